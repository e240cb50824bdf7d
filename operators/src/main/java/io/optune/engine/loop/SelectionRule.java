package io.optune.engine.loop;

import io.optune.engine.Rng;

/**
 * Decides whether a prompt is regenerated with the current policy or reuses its stored pair:
 *
 * <ul>
 *   <li>a new prompt (no stored score) is always generated;
 *   <li>{@code ALL}: always;
 *   <li>{@code RANDOM}: with probability {@code rho};
 *   <li>{@code OPTUNE}: when the stored score's mid-rank in the recent {@link RewardWindow} is
 *       below {@code rho}, i.e. it is among the lowest {@code rho} fraction of recent scores.
 * </ul>
 *
 * The same rule serves the offline loop and the Flink select operator.
 */
public final class SelectionRule {
    private final SelectionStrategy strategy;
    private final double rho;

    public SelectionRule(SelectionStrategy strategy, double rho) {
        if (strategy == null || !(rho >= 0 && rho <= 1)) {
            throw new IllegalArgumentException("strategy required and rho in [0, 1]: " + rho);
        }
        this.strategy = strategy;
        this.rho = rho;
    }

    public SelectionStrategy strategy() {
        return strategy;
    }

    public double rho() {
        return rho;
    }

    /**
     * @param storedScore the prompt's stored score, or NaN for a prompt never generated
     * @param window recent stored scores (the caller adds {@code storedScore} to it)
     */
    public boolean regenerate(double storedScore, RewardWindow window, Rng rng) {
        if (Double.isNaN(storedScore)) {
            return true;
        }
        switch (strategy) {
            case ALL:
                return true;
            case RANDOM:
                return rng.nextDouble() < rho;
            case OPTUNE:
                return window.rank(storedScore) < rho;
            default:
                throw new AssertionError(strategy);
        }
    }
}
