package io.optune.engine.tokenizer;

import io.optune.engine.InvalidInputException;

import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Turns text into token ids and back. Implementations are immutable and thread-safe.
 *
 * <p>Special ids: {@link #padId()} fills batches; {@link #bosId()}, when present, starts every
 * plain-text prompt (GPT-2 and Qwen have none, Llama has one); {@link #eosIds()} end a response
 * (chat models often have several, e.g. end-of-turn and end-of-text), the first of them is the one
 * appended to stored responses. {@link #spec()} describes the tokenizer completely so that a policy
 * snapshot can rebuild it (see {@link Tokenizers#fromSpec}).
 *
 * <p>Special-token policy: text that comes from users ({@link #encode} and the message contents of
 * {@link #encodeChat}) never produces special tokens, even when it spells one out (such as
 * {@code <|im_start|>}); only a chat template's own markup does. This keeps a prompt from
 * injecting turns or ending a response early.
 */
public interface Tokenizer extends java.io.Serializable {

    int vocabSize();

    int padId();

    /** The id put before a plain-text prompt, when this tokenizer uses one. */
    OptionalInt bosId();

    /** The ids that end a response, never empty; the first is the one {@link #eosId()} returns. */
    int[] eosIds();

    /** The end-of-sequence id appended to stored responses (the first of {@link #eosIds()}). */
    default int eosId() {
        return eosIds()[0];
    }

    default boolean isEos(int id) {
        for (int e : eosIds()) {
            if (e == id) {
                return true;
            }
        }
        return false;
    }

    /**
     * Encodes plain text without any special token, also where the text spells one out.
     *
     * @throws InvalidInputException with reason {@code unknown-character} when the text holds a
     *     character the vocabulary cannot represent
     */
    int[] encode(String text);

    /** Decodes ids, skipping special tokens and stopping at the first EOS. */
    String decode(int[] ids);

    /** Whether {@link #encodeChat} can render messages (the tokenizer ships a chat template). */
    default boolean hasChatTemplate() {
        return false;
    }

    /**
     * Renders messages with this tokenizer's chat template (generation prompt added) and encodes the
     * result; the template's markup becomes special tokens, the messages' contents never do.
     *
     * @throws InvalidInputException {@code no-chat-template} when the tokenizer has none,
     *     {@code chat-template-error} when the template fails on these messages
     */
    default int[] encodeChat(List<ChatMessage> messages) {
        throw new InvalidInputException("no-chat-template", "the tokenizer has no chat template; send the prompt as 'text'");
    }

    /**
     * As {@link #encodeChat(List)}, with the generation prompt only when {@code addGenerationPrompt}:
     * false encodes a finished conversation (a reward model reads the prompt turns plus the
     * assistant's answer this way). Tokenizers without a template refuse both forms.
     */
    default int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        if (addGenerationPrompt) {
            return encodeChat(messages);
        }
        throw new InvalidInputException("no-chat-template", "the tokenizer has no chat template to render a conversation with");
    }

    /** A complete, JSON-serialisable description: {@code type} plus the fields the type needs. */
    Map<String, Object> spec();
}
