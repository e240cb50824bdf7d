package io.optune.operators.score;

import java.io.IOException;

/**
 * A failed call to the remote reward service, with the dead-letter reason it ends as and whether
 * another attempt may succeed. Messages never carry request headers (the bearer token).
 */
public final class RewardHttpException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String reason;
    private final boolean retriable;

    public RewardHttpException(String reason, boolean retriable, String message) {
        super(message);
        this.reason = reason;
        this.retriable = retriable;
    }

    public RewardHttpException(String reason, boolean retriable, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.retriable = retriable;
    }

    /** Stable dead-letter reason, e.g. {@code reward-http-status-503}. */
    public String reason() {
        return reason;
    }

    public boolean retriable() {
        return retriable;
    }
}
