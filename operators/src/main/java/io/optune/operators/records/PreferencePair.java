package io.optune.operators.records;

import io.optune.engine.loop.PairBuilder;
import io.optune.engine.loop.Response;

/**
 * A training pair: token ids of the prompt and both responses, exactly as they were sampled (the
 * trainer scores these ids; nothing is encoded again from text), plus the texts for the audit.
 *
 * @param requestId the arrival of the prompt this pair answers (see {@link Prompt#requestId()})
 * @param prompt the prompt as a reader sees it ({@link Prompt#display()}), for the audit only
 * @param promptIds the prompt's ids as the policy was fed them
 * @param pair chosen and rejected responses (ids and text), their rewards and the unnormalised
 *     pair weight (the trainer rescales each batch to mean 1)
 * @param policyVersion version that generated the rejected response
 * @param fresh true when built from new responses, false when a stored pair was reused
 */
public record PreferencePair(
        String promptId,
        String requestId,
        String prompt,
        int[] promptIds,
        PairBuilder.Pair pair,
        long policyVersion,
        boolean fresh) {

    public Response chosen() {
        return pair.chosen();
    }

    public Response rejected() {
        return pair.rejected();
    }

    public double chosenReward() {
        return pair.chosenReward();
    }

    public double rejectedReward() {
        return pair.rejectedReward();
    }

    public double weight() {
        return pair.weight();
    }

    public double gap() {
        return pair.gap();
    }
}
