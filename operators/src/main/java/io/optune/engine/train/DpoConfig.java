package io.optune.engine.train;

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
 */
public record DpoConfig(LossType loss, float beta, float nllWeight, AdamWConfig optimizer, int microBatchPairs)
        implements java.io.Serializable {
    public DpoConfig {
        if (loss == null || !(beta > 0) || Float.isInfinite(beta) || optimizer == null
                || !(nllWeight >= 0) || Float.isInfinite(nllWeight) || microBatchPairs < 0) {
            throw new IllegalArgumentException("invalid DPO config: loss=" + loss + ", beta=" + beta
                    + ", nllWeight=" + nllWeight + ", microBatchPairs=" + microBatchPairs);
        }
    }

    /** Without micro-batches. */
    public DpoConfig(LossType loss, float beta, float nllWeight, AdamWConfig optimizer) {
        this(loss, beta, nllWeight, optimizer, 0);
    }

    public DpoConfig withMicroBatchPairs(int pairs) {
        return new DpoConfig(loss, beta, nllWeight, optimizer, pairs);
    }
}
