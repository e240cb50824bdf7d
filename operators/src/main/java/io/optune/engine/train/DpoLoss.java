package io.optune.engine.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * The weighted preference loss, written with native scalar arrays only (never a Java {@code Number}
 * operand, which DJL 0.36 frees before {@code backward()}).
 *
 * <pre>
 *   h_i   = (logpi_w - logref_w) - (logpi_l - logref_l)
 *   l_i   = -log sigmoid(beta * h_i)          (SIGMOID, DPO)
 *         = (h_i - 1 / (2 beta))^2            (IPO)
 *   n_i   = -logpi_w / |y_w|                 (per-token NLL of the chosen response)
 *   L     = (1/B) * sum_i w_i * (l_i + alpha * n_i),   mean(w) = 1
 * </pre>
 *
 * <p>With {@code alpha = 0} this is weighted DPO/IPO. A small {@code alpha} (the chosen-NLL term of
 * RPO, Pang et al. 2024) counters the known drift of DPO in which the likelihood of both responses
 * falls; on small policies it keeps samples on-distribution.
 */
public final class DpoLoss {
    private DpoLoss() {}

    /** Per-pair losses l_i from margins h (B). */
    public static NDArray perPair(NDArray margins, LossType type, float beta) {
        NDManager m = margins.getManager();
        switch (type) {
            case SIGMOID:
                return negLogSigmoid(margins.mul(m.full(new Shape(), beta)));
            case IPO:
                NDArray d = margins.sub(m.full(new Shape(), 1f / (2f * beta)));
                return d.mul(d);
            default:
                throw new AssertionError(type);
        }
    }

    /** Weighted mean of per-pair losses. */
    public static NDArray weightedMean(NDArray perPair, NDArray weights) {
        return perPair.mul(weights).mean();
    }

    /**
     * {@code -log sigmoid(z)}, stable for large |z|: log sigmoid(z) is the second entry of
     * log_softmax([0, z]).
     */
    public static NDArray negLogSigmoid(NDArray z) {
        NDArray pair = z.zerosLike().stack(z, 1);
        return pair.logSoftmax(1).get(":, 1").neg();
    }
}
