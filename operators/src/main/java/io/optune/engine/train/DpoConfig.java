package io.optune.engine.train;

import io.optune.engine.model.Precision;

/**
 * Settings of the weighted DPO trainer.
 *
 * @param loss SIGMOID (DPO) or IPO
 * @param beta KL strength: scales the margin in DPO, sets the target margin 1/(2 beta) in IPO
 * @param nllWeight alpha of the optional chosen-response NLL term (0 = pure DPO/IPO); see
 *     {@link DpoLoss}
 * @param optimizer AdamW, warm-up and clipping
 * @param microBatchPairs pairs per forward/backward pass, gradients accumulated over a batch so
 *     that long pairs fit in memory (0 = the whole batch at once); the update is the same
 * @param precision the matrix products of the policy and reference ({@link Precision#FLOAT16}:
 *     mixed precision with float32 master weights and moments, and a dynamic loss scale)
 */
public record DpoConfig(LossType loss, float beta, float nllWeight, AdamWConfig optimizer, int microBatchPairs,
        Precision precision) implements java.io.Serializable {
    public DpoConfig {
        if (precision == null) {
            precision = Precision.FLOAT32; // configs serialised before the field existed
        }
        if (loss == null || !(beta > 0) || Float.isInfinite(beta) || optimizer == null
                || !(nllWeight >= 0) || Float.isInfinite(nllWeight) || microBatchPairs < 0) {
            throw new IllegalArgumentException("invalid DPO config: loss=" + loss + ", beta=" + beta
                    + ", nllWeight=" + nllWeight + ", microBatchPairs=" + microBatchPairs);
        }
    }

    /** In float32. */
    public DpoConfig(LossType loss, float beta, float nllWeight, AdamWConfig optimizer, int microBatchPairs) {
        this(loss, beta, nllWeight, optimizer, microBatchPairs, Precision.FLOAT32);
    }

    /** Without micro-batches, in float32. */
    public DpoConfig(LossType loss, float beta, float nllWeight, AdamWConfig optimizer) {
        this(loss, beta, nllWeight, optimizer, 0);
    }

    public DpoConfig withMicroBatchPairs(int pairs) {
        return new DpoConfig(loss, beta, nllWeight, optimizer, pairs, precision);
    }

    public DpoConfig withPrecision(Precision p) {
        return new DpoConfig(loss, beta, nllWeight, optimizer, microBatchPairs, p);
    }
}
