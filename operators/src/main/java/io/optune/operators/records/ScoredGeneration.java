package io.optune.operators.records;

import java.util.ArrayList;
import java.util.List;

/** A {@link Generation} with one reward per response (all finite). */
public record ScoredGeneration(Generation generation, double[] rewards) {

    /**
     * The rule both score steps (in-process and remote) apply to a reward model's answer: responses
     * with a non-finite score are dropped; what is left is scored, or nothing when fewer than two
     * responses remain (no pair can be formed).
     *
     * @return the scored generation, or null when fewer than two responses have a finite reward
     * @throws IllegalArgumentException when there is not exactly one reward per response
     */
    public static ScoredGeneration keepFinite(Generation g, double[] rewards) {
        if (rewards == null || rewards.length != g.responses().length) {
            throw new IllegalArgumentException("reward model returned " + (rewards == null ? "null" : rewards.length + " scores")
                    + " for " + g.responses().length + " responses");
        }
        List<SampledResponse> kept = new ArrayList<>(rewards.length);
        double[] finite = new double[rewards.length];
        for (int i = 0; i < rewards.length; i++) {
            if (Double.isFinite(rewards[i])) {
                finite[kept.size()] = rewards[i];
                kept.add(g.responses()[i]);
            }
        }
        if (kept.size() < 2) {
            return null;
        }
        if (kept.size() == rewards.length) {
            return new ScoredGeneration(g, finite);
        }
        Generation trimmed = new Generation(g.request(), g.promptIds(), kept.toArray(new SampledResponse[0]), g.policyVersion(),
                g.tokens());
        return new ScoredGeneration(trimmed, java.util.Arrays.copyOf(finite, kept.size()));
    }

    /** How many of {@code rewards} are not finite. */
    public static int countNonFinite(double[] rewards) {
        int n = 0;
        for (double r : rewards) {
            n += Double.isFinite(r) ? 0 : 1;
        }
        return n;
    }
}
