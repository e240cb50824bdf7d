package io.optune.engine.model;

import ai.djl.ndarray.NDArray;

/**
 * Keys and values of every layer for the tokens seen so far, each of shape (B, kvHeads, T, headDim) after RoPE.
 * Owned by the generation's sub-manager; a step replaces the arrays with ones grown by the new tokens.
 */
public final class KvCache {
    final NDArray[] keys;
    final NDArray[] values;

    public KvCache(int layers) {
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
    }

    /** Moves all cached arrays to {@code manager}, so closing the step that made them keeps them. */
    public void attach(ai.djl.ndarray.NDManager manager) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                keys[i].attach(manager);
                values[i].attach(manager);
            }
        }
    }

    /** Cached positions (T), 0 before the first forward. */
    public long length() {
        return keys[0] == null ? 0 : keys[0].getShape().get(2);
    }
}
