package io.optune.engine.snapshot;

/** A snapshot that cannot be used: corrupted, truncated, tampered with, or for another model. */
public class SnapshotException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SnapshotException(String message) {
        super(message);
    }

    public SnapshotException(String message, Throwable cause) {
        super(message, cause);
    }
}
