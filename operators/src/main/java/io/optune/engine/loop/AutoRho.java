package io.optune.engine.loop;

/**
 * Chooses rho while the job runs ({@code optune.select.rho: auto}); no Flink.
 *
 * <p>Every arrival yields one training pair, fresh or reused, so the trainer is fed at any rho at
 * which generation keeps up with the selected prompts; past that the select step waits behind the
 * generators and the trainer starves. The controller therefore holds the share at the largest value
 * the generators sustain: it watches the regenerations in flight at its subtask (the generation
 * backlog it caused) and moves rho multiplicatively towards the backlog target, {@code rho *=
 * exp(gain * (target - inFlight) / target)}. A generation budget (regenerations per second) caps it
 * further, and {@code [min, max]} bound it; the lower bound is where the reuse and staleness caps
 * force regeneration anyway. The chosen rho is what {@link StreamSelector} then holds the realised
 * share to.
 */
public final class AutoRho {
    static final double GAIN = 0.2;

    /**
     * @param targetInFlight regenerations in flight per subtask that keep the generators busy
     * @param budgetPerSecond regenerations per second this subtask may request (0: no budget)
     */
    public record Config(double min, double max, int targetInFlight, double budgetPerSecond) implements java.io.Serializable {
        public Config {
            if (!(min >= 0 && min <= max && max <= 1) || targetInFlight < 1 || !(budgetPerSecond >= 0)) {
                throw new IllegalArgumentException("auto rho needs 0 <= min <= max <= 1, target in flight >= 1, budget >= 0");
            }
        }
    }

    private final Config config;
    private double rho;

    public AutoRho(Config config, double initial) {
        this.config = config;
        this.rho = clamp(initial);
    }

    public double rho() {
        return rho;
    }

    public void restore(double rho) {
        this.rho = clamp(rho);
    }

    /**
     * One control step.
     *
     * @param inFlight regenerations requested by this subtask whose memory has not come back
     * @param arrivals arrivals since the previous step
     * @param elapsedMillis time since the previous step
     * @return the new rho
     */
    public double update(int inFlight, long arrivals, long elapsedMillis) {
        double error = Math.max(-1.0, Math.min(1.0, (config.targetInFlight() - (double) inFlight) / config.targetInFlight()));
        double next = rho * Math.exp(GAIN * error);
        if (next == 0) {
            next = config.min() > 0 ? config.min() : 0.01; // multiplicative steps cannot leave 0
        }
        if (config.budgetPerSecond() > 0 && arrivals > 0 && elapsedMillis > 0) {
            double arrivalsPerSecond = arrivals * 1000.0 / elapsedMillis;
            next = Math.min(next, config.budgetPerSecond() / arrivalsPerSecond);
        }
        rho = clamp(next);
        return rho;
    }

    private double clamp(double r) {
        return Math.max(config.min(), Math.min(config.max(), r));
    }
}
