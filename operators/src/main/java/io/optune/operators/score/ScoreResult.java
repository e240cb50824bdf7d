package io.optune.operators.score;

import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Generation;
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

    /**
     * The rewards of {@code g}'s responses, one each: responses with a non-finite reward are dropped;
     * fewer than two left is a {@code non-finite-reward} dead letter (nothing to pair). {@code from}
     * names the scorer in its detail.
     */
    public static ScoreResult ofRewards(Generation g, double[] rewards, String from) {
        ScoredGeneration scored = ScoredGeneration.keepFinite(g, rewards);
        if (scored != null) {
            return scored(scored);
        }
        int finite = rewards.length - ScoredGeneration.countNonFinite(rewards);
        return failed(DeadLetter.of(g.request().prompt(), "score", "non-finite-reward",
                "only " + finite + " of " + rewards.length + " responses got a finite reward from " + from), false);
    }

    public boolean isScored() {
        return scored != null;
    }
}
