package io.optune.operators.score;

import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.ScoredGeneration;

/**
 * What the async scorer emits for one generation, since async functions have no side outputs:
 * either {@code scored}, or a {@code deadLetter} with the reason, marked {@code retriable} when
 * another attempt may succeed (the retry strategy reads it; the last attempt's failure is kept).
 * {@link ScoreResultSplit} splits the two after the async operator.
 */
public record ScoreResult(ScoredGeneration scored, DeadLetter deadLetter, boolean retriable) {

    public static ScoreResult scored(ScoredGeneration s) {
        return new ScoreResult(s, null, false);
    }

    public static ScoreResult failed(DeadLetter d, boolean retriable) {
        return new ScoreResult(null, d, retriable);
    }

    public boolean isScored() {
        return scored != null;
    }
}
