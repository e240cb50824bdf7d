package io.optune.operators.records;

/**
 * A training pair.
 *
 * @param requestId the arrival of the prompt this pair answers (see {@link Prompt#requestId()})
 * @param weight unnormalised pair weight (the trainer rescales each batch to mean 1)
 * @param policyVersion version that generated the rejected response
 * @param fresh true when built from new responses, false when a stored pair was reused
 */
public record PreferencePair(
        String promptId,
        String requestId,
        String prompt,
        String chosen,
        String rejected,
        double chosenReward,
        double rejectedReward,
        double weight,
        long policyVersion,
        boolean fresh) {

    public double gap() {
        return chosenReward - rejectedReward;
    }
}
