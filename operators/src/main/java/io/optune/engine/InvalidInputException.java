package io.optune.engine;

/**
 * A prompt, response, reward or file that the engine refuses, with a short machine-readable reason
 * code (used as the dead-letter reason by the stream operators) and a readable message.
 */
public class InvalidInputException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String reason;

    public InvalidInputException(String reason, String message) {
        super(message);
        this.reason = reason;
    }

    /** A short, stable code such as {@code empty-prompt} or {@code unknown-character}. */
    public String reason() {
        return reason;
    }
}
