package io.optune.engine.loop;

import java.util.List;

/**
 * The outcome of an offline loop run.
 *
 * @param sftReward held-out gold reward of the SFT warm start
 * @param finalReward held-out gold reward at the end
 * @param curve evaluations over time, the first at round 0
 * @param rounds rounds run
 * @param steps DPO steps taken
 * @param skippedSteps steps skipped as non-finite
 * @param promptsSeen prompts drawn from the feed
 * @param regenerated prompts regenerated (new ones included)
 * @param reused prompts that reused their stored pair
 * @param invalid prompts or responses refused (bad input, non-finite reward)
 * @param generatedTokens response tokens sampled
 * @param samplingTokensPerSecond sampled tokens per second of generation time
 * @param msPerStep mean wall-clock per DPO step
 * @param sftSeconds SFT warm-start time
 * @param dpoSeconds DPO phase time
 */
public record LoopReport(
        double sftReward,
        double finalReward,
        List<Point> curve,
        int rounds,
        long steps,
        long skippedSteps,
        long promptsSeen,
        long regenerated,
        long reused,
        long invalid,
        long generatedTokens,
        double samplingTokensPerSecond,
        double msPerStep,
        double sftSeconds,
        double dpoSeconds) {

    /** One evaluation: seconds since the DPO phase started, round, tokens generated so far, reward. */
    public record Point(double seconds, int round, long generatedTokens, double reward) {}

    public double regeneratedFraction() {
        return promptsSeen == 0 ? 0 : (double) regenerated / promptsSeen;
    }
}
