package io.optune.engine.train;

/**
 * Per-pair weights of the weighted DPO loss, as a function of the pair's reward gap
 * {@code g = r(chosen) - r(rejected) >= 0}. OPTune weights pairs with a clearer preference more;
 * the paper leaves the exact function open, so it is a choice here:
 *
 * <ul>
 *   <li>{@link #NONE}: {@code w = 1} (plain DPO).
 *   <li>{@link #EXP}: {@code w ∝ exp(beta2 * g)} (default).
 *   <li>{@link #LINEAR}: {@code w ∝ 1 + beta2 * g}.
 * </ul>
 *
 * <p>{@link #raw} gives the unnormalised weight a pair carries through the stream;
 * {@link #normalise} rescales a training batch's weights to average 1, so that the loss scale (and
 * the effective learning rate) does not depend on beta2 and no single pair dominates a batch. For
 * EXP that makes the batch weights {@code B * softmax(beta2 * g)}.
 */
public enum PairWeighting {
    NONE,
    EXP,
    LINEAR;

    /** Unnormalised weight of one pair. */
    public double raw(double gap, double beta2) {
        if (!Double.isFinite(gap) || gap < 0) {
            throw new IllegalArgumentException("reward gap must be finite and >= 0: " + gap);
        }
        switch (this) {
            case NONE:
                return 1.0;
            case EXP:
                // Clamp the exponent so huge gaps from an unbounded reward model stay finite.
                return Math.exp(Math.min(beta2 * gap, 50.0));
            case LINEAR:
                return 1.0 + beta2 * gap;
            default:
                throw new AssertionError(this);
        }
    }

    /** Weights of a batch rescaled to mean 1. */
    public static float[] normalise(double[] raw) {
        double sum = 0;
        for (double w : raw) {
            if (!(w >= 0) || Double.isInfinite(w)) {
                throw new IllegalArgumentException("pair weight must be finite and >= 0: " + w);
            }
            sum += w;
        }
        float[] out = new float[raw.length];
        for (int i = 0; i < raw.length; i++) {
            out[i] = sum > 0 ? (float) (raw[i] * raw.length / sum) : 1f;
        }
        return out;
    }
}
