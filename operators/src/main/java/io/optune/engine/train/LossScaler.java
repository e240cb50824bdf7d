package io.optune.engine.train;

/**
 * Dynamic loss scaling for float16 training, as PyTorch's {@code GradScaler}: the loss is multiplied
 * by {@link #scale()} before backward so that small gradients do not flush to zero in float16, the
 * update divides it out again, and gradients that overflowed (inf or NaN) halve the scale (the
 * trainer then recomputes them at the new scale); after {@link #GROWTH_INTERVAL} clean steps in a row it doubles. In float32 the
 * scale is 1 and never moves.
 */
public final class LossScaler {
    static final float INITIAL = 65536f;
    static final int GROWTH_INTERVAL = 1000;
    /** Below this the gradients are not overflowing; something else is wrong. */
    static final float MIN = 1f;
    static final float MAX = 1 << 24;

    private final boolean enabled;
    private float scale;
    private int cleanSteps;
    private long overflows;

    private LossScaler(boolean enabled, float scale) {
        this.enabled = enabled;
        this.scale = scale;
    }

    /** Scale 1, fixed (float32). */
    public static LossScaler disabled() {
        return new LossScaler(false, 1f);
    }

    /** Starts at {@code initial} (a power of two keeps the scaling exact). */
    public static LossScaler dynamic(float initial) {
        if (!(initial >= MIN) || Float.isInfinite(initial)) {
            throw new IllegalArgumentException("initial loss scale must be finite and >= 1: " + initial);
        }
        return new LossScaler(true, initial);
    }

    public boolean enabled() {
        return enabled;
    }

    public float scale() {
        return scale;
    }

    /** Steps skipped because the scaled gradients overflowed. */
    public long overflows() {
        return overflows;
    }

    int cleanSteps() {
        return cleanSteps;
    }

    /** Records an update made at this scale; after {@link #GROWTH_INTERVAL} in a row the scale doubles. */
    void recordCleanStep() {
        if (enabled && ++cleanSteps >= GROWTH_INTERVAL) {
            scale = Math.min(scale * 2f, MAX);
            cleanSteps = 0;
        }
    }

    /**
     * Halves the scale after gradients overflowed (inf or NaN with a finite loss). False when there
     * is nothing to back off to (disabled, or already at the minimum): then the gradients are
     * non-finite for another reason and the step must be skipped as such.
     */
    public boolean backOff() {
        if (!enabled || scale <= MIN) {
            return false;
        }
        cleanSteps = 0;
        overflows++;
        scale = Math.max(MIN, scale / 2f);
        return true;
    }

    /** Restores a checkpointed scale and run of clean steps (exact recovery). */
    void restore(float scale, int cleanSteps, long overflows) {
        if (enabled) {
            this.scale = scale;
            this.cleanSteps = cleanSteps;
            this.overflows = overflows;
        }
    }
}
