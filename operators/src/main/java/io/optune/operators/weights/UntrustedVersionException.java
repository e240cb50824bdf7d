package io.optune.operators.weights;

import java.io.IOException;

/**
 * A published version was refused: its snapshot does not match its announcement, or its signature
 * is missing, damaged, made by another key, or vouches for something else (another version number,
 * another snapshot). Readers keep the version they have.
 */
public final class UntrustedVersionException extends IOException {
    private static final long serialVersionUID = 1L;

    public UntrustedVersionException(String message) {
        super(message);
    }

    public UntrustedVersionException(String message, Throwable cause) {
        super(message, cause);
    }
}
