package io.optune.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * Keys and values of every layer for the tokens seen so far, each (B, kvHeads, T, headDim) after RoPE.
 *
 * <p>With a capacity ({@link #KvCache(int, int)}) each layer's keys and values live in one buffer of
 * that many positions, allocated at the first forward and written in place; attention reads a view
 * of the filled part. Without one, a step replaces the arrays with copies grown by the new tokens
 * (a concatenation per layer and step, whose cost grows with the length). The arrays belong to the
 * manager of the forward that made them until {@link #attach} moves them.
 */
public final class KvCache {
    final NDArray[] keys;
    final NDArray[] values;
    private final int capacity;
    private long length;

    /** A cache that grows by concatenation. */
    public KvCache(int layers) {
        this(layers, 0);
    }

    /**
     * A cache for at most {@code capacity} positions (prompt and generated tokens), preallocated;
     * 0 means unbounded, grown by concatenation.
     */
    public KvCache(int layers, int capacity) {
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity must be >= 0: " + capacity);
        }
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
        this.capacity = capacity;
    }

    /** Moves all cached arrays to {@code manager}, so closing the step that made them keeps them. */
    public void attach(NDManager manager) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                keys[i].attach(manager);
                values[i].attach(manager);
            }
        }
    }

    /** Cached positions (T), 0 before the first forward. */
    public long length() {
        return length;
    }

    /**
     * Adds layer {@code layer}'s keys and values of {@code t} new positions and returns the keys and
     * values attention covers (all cached positions, these included). Views and copies it makes
     * belong to {@code step}'s manager. {@link #advance} is called once all layers are added.
     */
    NDArray[] append(int layer, NDArray k, NDArray v, NDManager step) {
        long t = k.getShape().get(2);
        long end = length + t;
        if (capacity > 0) {
            if (end > capacity) {
                throw new IllegalStateException("KV cache of " + capacity + " positions is full (" + end + " needed)");
            }
            if (keys[layer] == null) {
                Shape s = k.getShape();
                Shape full = new Shape(s.get(0), s.get(1), capacity, s.get(3));
                keys[layer] = step.zeros(full, k.getDataType());
                values[layer] = step.zeros(full, v.getDataType());
            }
            NDIndex written = new NDIndex(":, :, {}:{}", length, end);
            keys[layer].set(written, k);
            values[layer].set(written, v);
            NDIndex filled = new NDIndex(":, :, :{}", end);
            NDArray kk = keys[layer].get(filled);
            NDArray vv = values[layer].get(filled);
            kk.attach(step);
            vv.attach(step);
            return new NDArray[] {kk, vv};
        }
        if (keys[layer] != null) {
            NDArray oldK = keys[layer];
            NDArray oldV = values[layer];
            k = oldK.concat(k, 2);
            v = oldV.concat(v, 2);
            // The grown arrays belong to this step until the caller moves the cache; so do all views
            // derived from them (otherwise they would leak per step).
            k.attach(step);
            v.attach(step);
            oldK.close(); // concat copied them
            oldV.close();
        }
        keys[layer] = k;
        values[layer] = v;
        return new NDArray[] {k, v};
    }

    /** Marks {@code t} more positions as cached (after every layer appended them). */
    void advance(long t) {
        length += t;
    }
}
