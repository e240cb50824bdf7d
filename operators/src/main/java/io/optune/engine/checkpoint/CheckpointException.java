package io.optune.engine.checkpoint;

/** A checkpoint that cannot be read as it is: missing file or tensor, bad header, truncated data. */
public class CheckpointException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
