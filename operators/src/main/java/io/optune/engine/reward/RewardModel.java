package io.optune.engine.reward;

import java.util.List;

/**
 * Scores responses to prompts. Higher is better; scores need not be bounded, and a model may return
 * NaN for a response it cannot judge (callers treat non-finite scores as failures, never as data).
 */
public interface RewardModel {

    /** One score per query, in order. */
    double[] score(List<RewardQuery> queries);

    /** A short name for logs and metrics. */
    String name();

    /**
     * Which prompts this model can score, in words for a user whose prompts it refuses (e.g.
     * "built-in task prompts only, like 'rev abc='"). Prompts outside it are refused with an
     * {@link io.optune.engine.InvalidInputException} of reason {@code unscorable-prompt}.
     */
    default String accepts() {
        return "any prompt";
    }
}
