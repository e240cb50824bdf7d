package io.optune.engine.loop;

/**
 * What is remembered of a prompt between visits: the prompt's token ids as the policy was fed them,
 * its best response so far (the chosen one), the worst response of its latest generation (the
 * rejected one), their rewards, the best reward of the latest generation ({@code latestReward}: how
 * well the policy did on the prompt when last asked, which is what OPTune ranks), and the policy
 * version of that latest generation. A reused pair trains on exactly these ids.
 */
public record ResponseMemory(int[] prompt, Response chosen, double chosenReward, Response rejected, double rejectedReward,
        double latestReward, long policyVersion) {

    public double gap() {
        return chosenReward - rejectedReward;
    }
}
