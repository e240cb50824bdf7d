package io.optune.engine.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class DpoLossTest {
    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    @Test
    void sigmoidLossValuesAndGradientsMatchTheFormula() {
        float beta = 0.5f;
        float[] h = {-2f, 0f, 1.5f};
        float[] w = {0.5f, 1f, 1.5f};
        NDArray margins = manager.create(h);
        margins.setRequiresGradient(true);
        double loss;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray l = DpoLoss.weightedMean(DpoLoss.perPair(margins, LossType.SIGMOID, beta), manager.create(w));
            gc.backward(l);
            loss = l.getFloat();
        }
        double expected = 0;
        for (int i = 0; i < 3; i++) {
            expected += w[i] * -Math.log(sigmoid(beta * h[i]));
        }
        assertThat(loss).isCloseTo(expected / 3, within(1e-5));
        float[] grad = margins.getGradient().toFloatArray();
        for (int i = 0; i < 3; i++) {
            // d/dh [-log sigmoid(beta h)] = -beta * sigmoid(-beta h), times w_i / B
            assertThat((double) grad[i]).isCloseTo(w[i] / 3.0 * -beta * sigmoid(-beta * h[i]), within(1e-5));
        }
    }

    @Test
    void ipoLossValuesAndGradientsMatchTheFormula() {
        float beta = 0.25f; // target margin 1/(2 beta) = 2
        float[] h = {0f, 2f, 3f};
        NDArray margins = manager.create(h);
        margins.setRequiresGradient(true);
        double loss;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray l = DpoLoss.weightedMean(DpoLoss.perPair(margins, LossType.IPO, beta), manager.ones(new ai.djl.ndarray.types.Shape(3)));
            gc.backward(l);
            loss = l.getFloat();
        }
        assertThat(loss).isCloseTo((4 + 0 + 1) / 3.0, within(1e-5));
        assertThat(margins.getGradient().toFloatArray()).containsExactly(new float[] {2 * -2f / 3, 0f, 2 * 1f / 3}, within(1e-5f));
    }

    @Test
    void negLogSigmoidIsStableForLargeInputs() {
        float[] out = DpoLoss.negLogSigmoid(manager.create(new float[] {-200f, 200f, 0f})).toFloatArray();
        assertThat(out[0]).isCloseTo(200f, within(1e-3f));
        assertThat(out[1]).isCloseTo(0f, within(1e-6f));
        assertThat(out[2]).isCloseTo((float) Math.log(2), within(1e-6f));
    }
}
