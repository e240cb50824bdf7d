package io.optune.engine.loop;

import java.util.Arrays;

/**
 * The recent reward distribution as a ring buffer of the last {@code capacity} stored prompt
 * scores, for ranking a prompt's score against it. Exact over the window and cheap for the window
 * sizes used (a linear scan of ~1k floats per query), it adapts as the policy improves, unlike a
 * global quantile sketch. Ties count half, so that when most prompts share the top score (solved),
 * they rank high rather than all landing at the bottom.
 */
public final class RewardWindow {
    private final float[] values;
    private int size;
    private int next;

    public RewardWindow(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1");
        }
        this.values = new float[capacity];
    }

    /** Restores a window from {@link #snapshot()}. */
    public static RewardWindow restore(int capacity, float[] snapshot) {
        RewardWindow w = new RewardWindow(capacity);
        for (float v : snapshot) {
            w.add(v);
        }
        return w;
    }

    public void add(double value) {
        if (!Double.isFinite(value)) {
            throw new IllegalArgumentException("reward must be finite: " + value);
        }
        values[next] = (float) value;
        next = (next + 1) % values.length;
        size = Math.min(size + 1, values.length);
    }

    public int size() {
        return size;
    }

    public int capacity() {
        return values.length;
    }

    /**
     * Mid-rank of {@code value} among the window: (#below + #equal / 2) / size, in [0, 1]; 0 when
     * the window is empty.
     */
    public double rank(double value) {
        if (size == 0) {
            return 0.0;
        }
        float v = (float) value; // compare at the stored precision
        int below = 0;
        int equal = 0;
        for (int i = 0; i < size; i++) {
            if (values[i] < v) {
                below++;
            } else if (values[i] == v) {
                equal++;
            }
        }
        return (below + equal / 2.0) / size;
    }

    /** The contents, oldest first. */
    public float[] snapshot() {
        float[] out = new float[size];
        int start = size < values.length ? 0 : next;
        for (int i = 0; i < size; i++) {
            out[i] = values[(start + i) % values.length];
        }
        return out;
    }

    @Override
    public String toString() {
        return "RewardWindow" + Arrays.toString(snapshot());
    }
}
