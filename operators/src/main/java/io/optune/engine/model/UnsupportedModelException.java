package io.optune.engine.model;

/** A checkpoint this engine cannot run as it is (unknown family, unimplemented option); the message names it. */
public class UnsupportedModelException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public UnsupportedModelException(String message) {
        super(message);
    }
}
