package io.optune.engine.train;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class PairWeightingTest {
    private static double mean(float[] w) {
        double s = 0;
        for (float x : w) {
            s += x;
        }
        return s / w.length;
    }

    @Test
    void expWeightsGrowWithTheGapAndNormaliseToMeanOne() {
        double[] gaps = {0.1, 0.5, 0.9};
        double[] raw = new double[3];
        for (int i = 0; i < 3; i++) {
            raw[i] = PairWeighting.EXP.raw(gaps[i], 2.0);
        }
        float[] w = PairWeighting.normalise(raw);
        assertThat(mean(w)).isCloseTo(1.0, within(1e-6));
        assertThat(w[0]).isLessThan(w[1]);
        assertThat(w[1]).isLessThan(w[2]);
        // B * softmax(beta2 * gap)
        double z = Math.exp(0.2) + Math.exp(1.0) + Math.exp(1.8);
        assertThat((double) w[2]).isCloseTo(3 * Math.exp(1.8) / z, within(1e-5));
    }

    @Test
    void linearAndNoneWeights() {
        float[] lin = PairWeighting.normalise(new double[] {PairWeighting.LINEAR.raw(0, 1), PairWeighting.LINEAR.raw(1, 1)});
        assertThat(lin).containsExactly(new float[] {2f / 3, 4f / 3}, within(1e-6f));
        float[] none = PairWeighting.normalise(new double[] {PairWeighting.NONE.raw(0.2, 5), PairWeighting.NONE.raw(0.9, 5)});
        assertThat(none).containsExactly(1f, 1f);
    }

    @Test
    void beta2ZeroMakesEveryWeightingUniform() {
        for (PairWeighting pw : PairWeighting.values()) {
            assertThat(PairWeighting.normalise(new double[] {pw.raw(0.1, 0), pw.raw(0.8, 0)})).containsExactly(1f, 1f);
        }
    }

    @Test
    void hugeGapsStayFiniteAndBadGapsAreRefused() {
        assertThat(PairWeighting.EXP.raw(1e6, 10)).isFinite();
        assertThatThrownBy(() -> PairWeighting.EXP.raw(-0.1, 1)).hasMessageContaining("gap");
        assertThatThrownBy(() -> PairWeighting.EXP.raw(Double.NaN, 1)).hasMessageContaining("gap");
        assertThatThrownBy(() -> PairWeighting.normalise(new double[] {1, Double.NaN})).hasMessageContaining("weight");
    }
}
