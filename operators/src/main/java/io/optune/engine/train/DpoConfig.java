package io.optune.engine.train;

/**
 * Settings of the weighted DPO trainer.
 *
 * @param loss SIGMOID (DPO) or IPO
 * @param beta KL strength: scales the margin in DPO, sets the target margin 1/(2 beta) in IPO
 * @param nllWeight alpha of the optional chosen-response NLL term (0 = pure DPO/IPO); see
 *     {@link DpoLoss}
 * @param optimizer AdamW, warm-up and clipping
 */
public record DpoConfig(LossType loss, float beta, float nllWeight, AdamWConfig optimizer) implements java.io.Serializable {
    public DpoConfig {
        if (loss == null || !(beta > 0) || Float.isInfinite(beta) || optimizer == null
                || !(nllWeight >= 0) || Float.isInfinite(nllWeight)) {
            throw new IllegalArgumentException(
                    "invalid DPO config: loss=" + loss + ", beta=" + beta + ", nllWeight=" + nllWeight);
        }
    }
}
