package io.optune.engine.task;

import io.optune.engine.Rng;

/**
 * Demonstrations for the SFT warm start, deliberately noisy so that the initial policy is imperfect
 * in the way OPTune exploits: some prompts it already solves (their responses score high and need
 * no regeneration), others it gets wrong often enough that greedy decoding fails while sampling
 * still finds the answer now and then (those are worth regenerating).
 *
 * <p>Each kind has its own error rate and one systematic error, so the errors are learnable habits
 * rather than random noise that averages out: COPY repeats the last character, REVERSE returns the
 * operand unreversed, SORT drops the last character, ADD is one too high in the last digit.
 */
public final class NoisyDemonstrations {
    private final double[] errorRate;

    /** The default error rates: COPY 0.1, REVERSE 0.6, SORT 0.6, ADD 0.55. */
    public NoisyDemonstrations() {
        this(new double[] {0.1, 0.6, 0.6, 0.55});
    }

    public NoisyDemonstrations(double[] errorRateByKind) {
        if (errorRateByKind.length != TaskKind.values().length) {
            throw new IllegalArgumentException("one error rate per task kind");
        }
        this.errorRate = errorRateByKind.clone();
    }

    /** The demonstrated response for {@code prompt}: its answer, or the kind's error. */
    public String demonstrate(TaskPrompt prompt, Rng rng) {
        if (rng.nextDouble() >= errorRate[prompt.kind().ordinal()]) {
            return prompt.answer();
        }
        String a = prompt.answer();
        String operand = prompt.text().substring(prompt.kind().verb().length() + 1, prompt.text().length() - 1);
        switch (prompt.kind()) {
            case COPY:
                return a + a.charAt(a.length() - 1);
            case REVERSE:
                return operand;
            case SORT:
                return a.substring(0, a.length() - 1);
            case ADD:
                int last = a.charAt(a.length() - 1) - '0';
                return a.substring(0, a.length() - 1) + (char) ('0' + (last + 1) % 10);
            default:
                throw new AssertionError(prompt.kind());
        }
    }
}
