package io.optune.engine.tokenizer;

/** A chat template that cannot be compiled or failed (or ran out of bounds) while rendering. */
public class ChatTemplateException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
