package io.optune.engine.train;

/**
 * AdamW with linear warm-up and global-norm gradient clipping.
 *
 * @param learningRate peak learning rate
 * @param beta1 first-moment decay
 * @param beta2 second-moment decay
 * @param epsilon denominator guard
 * @param weightDecay decoupled weight decay on matrices
 * @param warmupSteps steps of linear warm-up from 0 to the peak
 * @param maxGradNorm clip gradients to this global L2 norm; 0 disables clipping
 */
public record AdamWConfig(float learningRate, float beta1, float beta2, float epsilon, float weightDecay, int warmupSteps, float maxGradNorm) implements java.io.Serializable {
    public AdamWConfig {
        if (!(learningRate > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(epsilon > 0)
                || !(weightDecay >= 0) || warmupSteps < 0 || !(maxGradNorm >= 0)) {
            throw new IllegalArgumentException("invalid optimizer config: " + this);
        }
    }

    public static AdamWConfig of(float learningRate) {
        return new AdamWConfig(learningRate, 0.9f, 0.999f, 1e-8f, 0.0f, 0, 1.0f);
    }

    public AdamWConfig withWarmup(int steps) {
        return new AdamWConfig(learningRate, beta1, beta2, epsilon, weightDecay, steps, maxGradNorm);
    }

    public AdamWConfig withWeightDecay(float wd) {
        return new AdamWConfig(learningRate, beta1, beta2, epsilon, wd, warmupSteps, maxGradNorm);
    }

    public AdamWConfig withMaxGradNorm(float norm) {
        return new AdamWConfig(learningRate, beta1, beta2, epsilon, weightDecay, warmupSteps, norm);
    }

    /** Learning rate at optimizer step {@code t} (1-based). */
    public float learningRateAt(long t) {
        if (warmupSteps == 0 || t >= warmupSteps) {
            return learningRate;
        }
        return learningRate * t / warmupSteps;
    }
}
