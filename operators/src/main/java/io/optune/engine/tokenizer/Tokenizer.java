package io.optune.engine.tokenizer;

import java.util.Map;

/**
 * Turns text into token ids and back. Implementations are immutable and thread-safe.
 *
 * <p>Three special ids are fixed per tokenizer: {@link #padId()} fills batches, {@link #bosId()}
 * starts every prompt and {@link #eosId()} ends a response. {@link #spec()} describes the tokenizer
 * completely so that a policy snapshot can rebuild it (see {@link Tokenizers#fromSpec}); a
 * Hugging Face {@code tokenizer.json} backed implementation can plug in with its own spec type.
 */
public interface Tokenizer extends java.io.Serializable {

    int vocabSize();

    int padId();

    int bosId();

    int eosId();

    /**
     * Encodes plain text without special tokens.
     *
     * @throws io.optune.engine.InvalidInputException with reason {@code unknown-character} when the
     *     text holds a character the vocabulary cannot represent
     */
    int[] encode(String text);

    /** Decodes ids, skipping special tokens and stopping at the first EOS. */
    String decode(int[] ids);

    /** A complete, JSON-serialisable description: {@code type} plus the fields the type needs. */
    Map<String, Object> spec();
}
