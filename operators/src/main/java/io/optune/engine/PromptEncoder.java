package io.optune.engine;

import io.optune.engine.tokenizer.Tokenizer;

/** Validates prompt and response text and turns it into model input ids. */
public final class PromptEncoder {
    private final Tokenizer tokenizer;
    private final int maxPromptTokens;

    /**
     * @param maxPromptTokens longest accepted prompt, BOS included; leave room for the response
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
     * BOS followed by the prompt's ids.
     *
     * @throws InvalidInputException {@code empty-prompt}, {@code prompt-too-long} or
     *     {@code unknown-character}
     */
    public int[] encodePrompt(String text) {
        if (text == null || text.isBlank()) {
            throw new InvalidInputException("empty-prompt", "prompt text is empty");
        }
        if (text.length() + 1 > maxPromptTokens * 4L) {
            // Cheap early refusal of huge inputs before tokenizing them.
            throw new InvalidInputException("prompt-too-long", "prompt of " + text.length() + " characters exceeds " + maxPromptTokens + " tokens");
        }
        int[] ids = tokenizer.encode(text);
        if (ids.length + 1 > maxPromptTokens) {
            throw new InvalidInputException("prompt-too-long", "prompt is " + (ids.length + 1) + " tokens, the limit is " + maxPromptTokens);
        }
        int[] out = new int[ids.length + 1];
        out[0] = tokenizer.bosId();
        System.arraycopy(ids, 0, out, 1, ids.length);
        return out;
    }

    /** A response's ids followed by EOS (demonstrations and stored responses). */
    public int[] encodeResponse(String text) {
        int[] ids = tokenizer.encode(text);
        int[] out = new int[ids.length + 1];
        System.arraycopy(ids, 0, out, 0, ids.length);
        out[ids.length] = tokenizer.eosId();
        return out;
    }
}
