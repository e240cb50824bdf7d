package io.optune.engine;

import io.optune.engine.tokenizer.ChatMessage;
import io.optune.engine.tokenizer.Tokenizer;

import java.util.List;
import java.util.OptionalInt;

/**
 * Validates prompt and response text and turns it into model input ids. A prompt is either plain
 * text (the tokenizer's BOS, when it has one, then the text's ids) or chat messages (rendered with
 * the tokenizer's chat template, which places BOS itself when the model wants one).
 */
public final class PromptEncoder {
    /**
     * Cheap refusal of huge inputs before tokenizing them: no tokenizer we know packs more
     * characters than this into one token on average (GPT-2 and Qwen stay under 10 even on runs of
     * one letter).
     */
    static final int MAX_CHARS_PER_TOKEN = 16;

    private final Tokenizer tokenizer;
    private final int maxPromptTokens;

    /**
     * @param maxPromptTokens longest accepted prompt, BOS and template markup included; leave room
     *     for the response
     */
    public PromptEncoder(Tokenizer tokenizer, int maxPromptTokens) {
        if (maxPromptTokens < 2) {
            throw new IllegalArgumentException("maxPromptTokens must be >= 2");
        }
        this.tokenizer = tokenizer;
        this.maxPromptTokens = maxPromptTokens;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public int maxPromptTokens() {
        return maxPromptTokens;
    }

    /**
     * Either form of a prompt: the messages when there are any, the text otherwise.
     *
     * @throws InvalidInputException see {@link #encodePrompt} and {@link #encodeChat}
     */
    public int[] encode(String text, List<ChatMessage> messages) {
        return messages == null || messages.isEmpty() ? encodePrompt(text) : encodeChat(messages);
    }

    /**
     * BOS (when the tokenizer uses one) followed by the prompt's ids. Special-token spellings in
     * the text stay plain text.
     *
     * @throws InvalidInputException {@code empty-prompt}, {@code prompt-too-long} or
     *     {@code unknown-character}
     */
    public int[] encodePrompt(String text) {
        if (text == null || text.isBlank()) {
            throw new InvalidInputException("empty-prompt", "prompt text is empty");
        }
        OptionalInt bos = tokenizer.bosId();
        int extra = bos.isPresent() ? 1 : 0;
        refuseHuge(text.length());
        int[] ids = tokenizer.encode(text);
        checkLength(ids.length + extra);
        if (extra == 0) {
            return ids;
        }
        int[] out = new int[ids.length + 1];
        out[0] = bos.getAsInt();
        System.arraycopy(ids, 0, out, 1, ids.length);
        return out;
    }

    /**
     * The conversation rendered with the tokenizer's chat template, generation prompt included.
     *
     * @throws InvalidInputException {@code empty-prompt} (no messages or an empty content),
     *     {@code invalid-message}, {@code no-chat-template}, {@code chat-template-error} or
     *     {@code prompt-too-long}
     */
    public int[] encodeChat(List<ChatMessage> messages) {
        if (messages == null || messages.isEmpty()) {
            throw new InvalidInputException("empty-prompt", "prompt has no messages");
        }
        long chars = 0;
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage m = messages.get(i);
            if (m == null || m.role() == null || !ChatMessage.ROLES.contains(m.role())) {
                throw new InvalidInputException("invalid-message", "message " + i + " has role '" + (m == null ? null : m.role())
                        + "', expected one of " + ChatMessage.ROLES);
            }
            if (m.content() == null || m.content().isBlank()) {
                throw new InvalidInputException("empty-prompt", "message " + i + " has empty content");
            }
            chars += m.content().length();
        }
        if (!tokenizer.hasChatTemplate()) {
            throw new InvalidInputException("no-chat-template", "the tokenizer has no chat template; send the prompt as 'text'");
        }
        refuseHuge(chars);
        int[] ids = tokenizer.encodeChat(messages);
        checkLength(ids.length);
        return ids;
    }

    private void refuseHuge(long chars) {
        if (chars > (long) maxPromptTokens * MAX_CHARS_PER_TOKEN) {
            throw new InvalidInputException("prompt-too-long", "prompt of " + chars + " characters exceeds " + maxPromptTokens + " tokens");
        }
    }

    private void checkLength(int tokens) {
        if (tokens > maxPromptTokens) {
            throw new InvalidInputException("prompt-too-long", "prompt is " + tokens + " tokens, the limit is " + maxPromptTokens);
        }
    }

    /** A response's ids followed by the primary EOS (demonstrations and stored responses). */
    public int[] encodeResponse(String text) {
        int[] ids = tokenizer.encode(text);
        int[] out = new int[ids.length + 1];
        System.arraycopy(ids, 0, out, 0, ids.length);
        out[ids.length] = tokenizer.eosId();
        return out;
    }
}
