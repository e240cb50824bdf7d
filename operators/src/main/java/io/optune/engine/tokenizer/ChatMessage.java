package io.optune.engine.tokenizer;

import java.util.Set;

/**
 * One turn of an OpenAI-style chat prompt ({@code {"role": "user", "content": "..."}}).
 *
 * <p>A plain record of two strings so that Flink serialises it as a POJO (no Kryo) inside
 * {@code Prompt}.
 *
 * @param role {@code system}, {@code user} or {@code assistant}
 * @param content the turn's text; never rendered into special tokens (see {@link Tokenizer#encodeChat})
 */
public record ChatMessage(String role, String content) {
    /** The roles a prompt may carry; tool turns need tool schemas, which prompts do not carry yet. */
    public static final Set<String> ROLES = Set.of("system", "user", "assistant");

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }
}
