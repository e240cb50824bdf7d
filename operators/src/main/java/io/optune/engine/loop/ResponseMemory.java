package io.optune.engine.loop;

/**
 * What is remembered of a prompt between visits: its best response so far (the chosen one), the
 * worst response of its latest generation (the rejected one), their rewards, and the policy version
 * of that latest generation.
 */
public record ResponseMemory(String chosen, double chosenReward, String rejected, double rejectedReward, long policyVersion) {

    public double gap() {
        return chosenReward - rejectedReward;
    }
}
