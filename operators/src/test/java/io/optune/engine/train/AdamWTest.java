package io.optune.engine.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.Rng;
import io.optune.engine.model.TransformerLM;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The flat-buffer AdamW against torch.optim.AdamW's update rule written out per element in double
 * precision (bias corrections, epsilon outside the square root, decoupled decay applied before the
 * step, global-norm clipping), over three steps with gradients that change every step.
 */
class AdamWTest {
    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    /** Both forms: whole-model ops on flat buffers (a GPU's) and per-parameter ops (a CPU's). */
    @org.junit.jupiter.params.ParameterizedTest(name = "fused={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void threeStepsMatchTorchsUpdateRuleElementByElement(boolean fused) {
        AdamWConfig config = new AdamWConfig(1e-2f, 0.9f, 0.99f, 1e-6f, 0.1f, 0, 0.5f);
        try (TransformerLM model = EngineTestSupport.smallModel(manager, 3); AdamW opt = new AdamW(model, config, fused)) {
            model.setTrainable(true);
            List<String> decayed = model.decayedParameters();
            Map<String, double[]> p = new HashMap<>();
            Map<String, double[]> m = new HashMap<>();
            Map<String, double[]> v = new HashMap<>();
            model.parameters().forEach((name, a) -> {
                float[] f = a.toFloatArray();
                double[] d = new double[f.length];
                for (int i = 0; i < f.length; i++) {
                    d[i] = f[i];
                }
                p.put(name, d);
                m.put(name, new double[f.length]);
                v.put(name, new double[f.length]);
            });
            Rng rng = new Rng(9);
            for (int t = 1; t <= 3; t++) {
                // loss = sum(p * r) has gradient r: known gradients, different every step
                Map<String, float[]> grads = new HashMap<>();
                model.parameters().forEach((name, a) -> {
                    float[] r = new float[Math.toIntExact(a.getShape().size())];
                    for (int i = 0; i < r.length; i++) {
                        r[i] = (float) rng.nextGaussian();
                    }
                    grads.put(name, r);
                });
                opt.zeroGradients();
                opt.accumulate(() -> {
                    NDArray loss = null;
                    for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
                        NDArray term = e.getValue().mul(manager.create(grads.get(e.getKey()), e.getValue().getShape())).sum();
                        loss = loss == null ? term : loss.add(term);
                    }
                    return loss;
                });
                double sq = 0;
                for (float[] g : grads.values()) {
                    for (float x : g) {
                        sq += (double) x * x;
                    }
                }
                double norm = Math.sqrt(sq);
                AdamW.Step step = opt.finish(1.0);
                assertThat(step.skipped()).isFalse();
                assertThat(step.gradNorm()).isCloseTo(norm, within(norm * 1e-5));
                double clip = norm > config.maxGradNorm() ? config.maxGradNorm() / norm : 1;
                double lr = config.learningRateAt(t);
                for (String name : p.keySet()) {
                    double[] pp = p.get(name);
                    double[] mm = m.get(name);
                    double[] vv = v.get(name);
                    float[] g = grads.get(name);
                    for (int i = 0; i < pp.length; i++) {
                        double gi = g[i] * clip;
                        if (decayed.contains(name)) {
                            pp[i] *= 1 - lr * config.weightDecay();
                        }
                        mm[i] = config.beta1() * mm[i] + (1 - config.beta1()) * gi;
                        vv[i] = config.beta2() * vv[i] + (1 - config.beta2()) * gi * gi;
                        double mHat = mm[i] / (1 - Math.pow(config.beta1(), t));
                        double vHat = vv[i] / (1 - Math.pow(config.beta2(), t));
                        pp[i] -= lr * mHat / (Math.sqrt(vHat) + config.epsilon());
                    }
                }
            }
            assertThat(decayed).isNotEmpty();
            for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
                float[] actual = e.getValue().toFloatArray();
                double[] expected = p.get(e.getKey());
                float[] mActual = opt.firstMoments().get(e.getKey()).toFloatArray();
                for (int i = 0; i < actual.length; i++) {
                    assertThat((double) actual[i]).as(e.getKey() + "[" + i + "]").isCloseTo(expected[i], within(2e-6));
                    assertThat((double) mActual[i]).as("m of " + e.getKey()).isCloseTo(m.get(e.getKey())[i], within(1e-6));
                }
            }
        }
    }
}
