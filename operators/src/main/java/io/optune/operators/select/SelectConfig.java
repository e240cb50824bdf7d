package io.optune.operators.select;

import io.optune.engine.loop.AutoRho;
import io.optune.engine.loop.SelectionStrategy;
import io.optune.engine.loop.StreamSelector;
import io.optune.engine.train.PairWeighting;

import java.io.Serializable;
import java.time.Duration;

/**
 * Settings of the select step. Build with {@link #builder(SelectionStrategy, double)}; unset values
 * are the plainest (fixed rho, RAW scores, 1,024 ranked prompts, no TTL, no reuse caps, 30 s
 * in-flight timeout); the job sets each from {@code optune.select.*}.
 *
 * @param autoRho null for a fixed rho, else how rho is chosen ({@code rho} is then the start value)
 * @param rankedPrompts prompts per subtask whose latest score a prompt is ranked against
 */
public record SelectConfig(SelectionStrategy strategy, double rho, AutoRho.Config autoRho, ScoreBasis basis, double minGap,
        PairWeighting weighting, double beta2, int rankedPrompts, Duration ttl, Duration inFlightTimeout,
        StreamSelector.Limits limits, long seed) implements Serializable {
    private static final long serialVersionUID = 1L;

    public SelectConfig {
        if (strategy == null || !(rho >= 0 && rho <= 1) || rankedPrompts < 1 || inFlightTimeout == null || limits == null) {
            throw new IllegalArgumentException("select needs a strategy, rho in [0, 1], ranked prompts >= 1, an in-flight timeout and limits");
        }
        if (autoRho != null && strategy == SelectionStrategy.ALL) {
            throw new IllegalArgumentException("rho auto needs strategy OPTUNE or RANDOM (ALL regenerates everything)");
        }
    }

    public static Builder builder(SelectionStrategy strategy, double rho) {
        return new Builder(strategy, rho);
    }

    /** Step-by-step construction; {@link #build()} validates. */
    public static final class Builder {
        private final SelectionStrategy strategy;
        private final double rho;
        private AutoRho.Config autoRho;
        private ScoreBasis basis = ScoreBasis.RAW;
        private double minGap = 0.01;
        private PairWeighting weighting = PairWeighting.EXP;
        private double beta2 = 2.0;
        private int rankedPrompts = 1024;
        private Duration ttl = Duration.ZERO;
        private Duration inFlightTimeout = Duration.ofSeconds(30);
        private StreamSelector.Limits limits = StreamSelector.Limits.none();
        private long seed = 1L;

        private Builder(SelectionStrategy strategy, double rho) {
            this.strategy = strategy;
            this.rho = rho;
        }

        public Builder autoRho(AutoRho.Config c) {
            this.autoRho = c;
            return this;
        }

        public Builder basis(ScoreBasis b) {
            this.basis = b;
            return this;
        }

        public Builder pairs(double minGap, PairWeighting weighting, double beta2) {
            this.minGap = minGap;
            this.weighting = weighting;
            this.beta2 = beta2;
            return this;
        }

        public Builder rankedPrompts(int n) {
            this.rankedPrompts = n;
            return this;
        }

        public Builder ttl(Duration d) {
            this.ttl = d;
            return this;
        }

        public Builder inFlightTimeout(Duration d) {
            this.inFlightTimeout = d;
            return this;
        }

        public Builder limits(StreamSelector.Limits l) {
            this.limits = l;
            return this;
        }

        public Builder seed(long s) {
            this.seed = s;
            return this;
        }

        public SelectConfig build() {
            return new SelectConfig(strategy, rho, autoRho, basis, minGap, weighting, beta2, rankedPrompts, ttl, inFlightTimeout, limits, seed);
        }
    }
}
