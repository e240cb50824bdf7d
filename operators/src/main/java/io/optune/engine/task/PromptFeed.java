package io.optune.engine.task;

import io.optune.engine.Rng;

/**
 * The built-in prompt feed: an unbounded, seeded sequence in which a finite pool of prompts recurs
 * while new prompts keep arriving, as in live traffic. Prompt {@code i} is a pure function of
 * {@code (seed, i)}, so a source only needs its next index as checkpoint state and a replay yields
 * the same prompts.
 *
 * <p>The first {@code poolSize} prompts are new. After that, prompt {@code i} is new with
 * probability {@code newRate}, otherwise it repeats a prompt drawn uniformly from the previous
 * {@code poolSize} positions.
 */
public final class PromptFeed {
    private final long seed;
    private final int poolSize;
    private final double newRate;
    private final int maxOperand;

    public PromptFeed(long seed, int poolSize, double newRate) {
        this(seed, poolSize, newRate, BuiltinTask.DEFAULT_MAX_OPERAND);
    }

    /** A feed of the task with string operands of up to {@code maxOperand} letters ({@link BuiltinTask#random(Rng, int)}). */
    public PromptFeed(long seed, int poolSize, double newRate, int maxOperand) {
        if (poolSize < 1 || !(newRate >= 0 && newRate <= 1)) {
            throw new IllegalArgumentException("poolSize must be >= 1 and newRate in [0, 1]");
        }
        this.seed = seed;
        this.poolSize = poolSize;
        this.newRate = newRate;
        this.maxOperand = maxOperand;
    }

    /** The prompt at position {@code index} (0-based). */
    public TaskPrompt at(long index) {
        long i = index;
        while (true) {
            Rng rng = Rng.derive(seed, i);
            if (i < poolSize || rng.nextDouble() < newRate) {
                return BuiltinTask.random(rng, maxOperand);
            }
            i = i - 1 - rng.nextInt(poolSize);
        }
    }
}
