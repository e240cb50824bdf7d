package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Rng;
import io.optune.engine.generate.Completion;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.model.Batches;
import io.optune.engine.model.Precision;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PreferenceExample;
import io.optune.engine.train.StepResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static io.optune.engine.checkpoint.HfParityTest.maxAbsDiff;
import static io.optune.engine.checkpoint.HfParityTest.relativeL2;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link Precision#FLOAT16} (mixed precision: float16 products, float32 masters) against the same
 * transformers reference data as {@link HfParityTest}, over the same fixture root. float16 keeps
 * about 3 significant digits, so the bounds are stated, not bit-exact: logits within 2% of their
 * range, the DPO loss within 0.01, gradients within 5% relative L2, a 40-step DPO run's loss within 0.02 of float32's at every
 * step. What must be exact is exact: an inference copy computes what the mixed model computes.
 */
class MixedPrecisionTest {
    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    static Stream<Path> fixtures() throws Exception {
        return HfParityTest.fixtures();
    }

    private static TransformerLM load(Path dir, HfParityTest.Fixture f) {
        return HfParityTest.load(dir, f, manager);
    }

    private static float[] logits(TransformerLM model, HfParityTest.Fixture f) {
        try (NDManager m = manager.newSubManager()) {
            List<int[]> rows = new ArrayList<>();
            for (int i = 0; i < f.rows("input_ids"); i++) {
                rows.add(f.row("input_ids", i, true));
            }
            Batches.Inputs in = Batches.rightPadded(m, rows, f.meta().get("pad_id").asInt());
            NDArray out = model.logits(model.hidden(in.tokens(), in.positions(), in.bias(), null));
            assertThat(out.getDataType()).as("logits leave the model in float32").isEqualTo(DataType.FLOAT32);
            return out.toFloatArray();
        }
    }

    private static double range(float[] a) {
        double max = 0;
        for (float x : a) {
            max = Math.max(max, Math.abs(x));
        }
        return max;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void float16LogitsStayCloseToTransformersFloat32(Path dir) throws Exception {
        HfParityTest.Fixture f = HfParityTest.Fixture.of(dir);
        float[] expected = f.expected().get("logits").floats();
        try (TransformerLM model = load(dir, f)) {
            model.setPrecision(Precision.FLOAT16);
            float[] actual = logits(model, f);
            double diff = maxAbsDiff(actual, expected);
            System.out.printf("%s float16 logits: max |diff| %.2e of range %.3f%n", dir.getFileName(), diff, range(expected));
            assertThat(diff).isLessThanOrEqualTo(0.02 * range(expected));
            assertThat(diff).as("float16 products do change the numbers").isPositive();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void anInferenceCopyComputesExactlyWhatTheMixedModelComputes(Path dir) throws Exception {
        HfParityTest.Fixture f = HfParityTest.Fixture.of(dir);
        int p = f.promptLen();
        int[] prompt = Arrays.copyOf(f.row("greedy_ids", 0, false), p);
        try (TransformerLM mixed = load(dir, f); TransformerLM copy = load(dir, f)) {
            mixed.setPrecision(Precision.FLOAT16);
            copy.storeForInference(Precision.FLOAT16);
            assertThat(copy.parameters().get(copy.embeddingName()).getDataType()).isEqualTo(DataType.FLOAT16);
            assertThat(logits(copy, f)).containsExactly(logits(mixed, f));
            // KV-cached decoding in float16 (half the cache) against the same model's decoding.
            SamplingConfig sampling = new SamplingConfig(1f, 0.9f, 10, 3);
            List<Completion> a = new Generator(copy, new int[0], 0).generate(manager, List.of(prompt, prompt), sampling, new Rng(5));
            List<Completion> b = new Generator(mixed, new int[0], 0).generate(manager, List.of(prompt, prompt), sampling, new Rng(5));
            for (int i = 0; i < a.size(); i++) {
                assertThat(a.get(i).tokens()).isEqualTo(b.get(i).tokens());
            }
            assertThatThrownBy(() -> copy.setTrainable(true)).isInstanceOf(IllegalStateException.class);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void float16GradientsReachTheFloat32MastersCloseToTransformers(Path dir) throws Exception {
        HfParityTest.Fixture f = HfParityTest.Fixture.of(dir);
        JsonNode dpo = f.meta().get("dpo");
        int p = dpo.get("prompt_len").asInt();
        int[] chosen = f.row("dpo_pair_ids", 0, false);
        int[] rejected = f.row("dpo_pair_ids", 1, false);
        Map<String, FixtureTensors.Tensor> grads = FixtureTensors.read(dir.resolve("expected_dpo_grads.safetensors"));
        DpoConfig config = new DpoConfig(LossType.SIGMOID, (float) dpo.get("beta").asDouble(), 0f, AdamWConfig.of(1e-3f))
                .withPrecision(Precision.FLOAT16);
        try (DpoTrainer trainer = new DpoTrainer(load(dir, f), load(dir.resolve(dpo.get("reference").asText()), f), config)) {
            PreferenceExample pair = new PreferenceExample(Arrays.copyOf(chosen, p),
                    Arrays.copyOfRange(chosen, p, chosen.length), Arrays.copyOfRange(rejected, p, rejected.length), 1.0);
            DpoTrainer.Evaluation e = trainer.lossAndGradients(List.of(pair));
            while (!Double.isFinite(trainer.optimizer().gradientNorm())) {
                assertThat(trainer.lossScaler().backOff()).as("float16 gradients overflow at every scale").isTrue();
                e = trainer.lossAndGradients(List.of(pair));
            }
            assertThat(Math.abs(e.loss() - dpo.get("value").asDouble())).as("|DPO loss - transformers'|").isLessThanOrEqualTo(1e-2);
            float scale = trainer.lossScaler().scale();
            double worst = 0;
            for (Map.Entry<String, FixtureTensors.Tensor> g : grads.entrySet()) {
                NDArray grad = trainer.policy().parameters().get(g.getKey()).getGradient();
                assertThat(grad.getDataType()).as("master gradient of " + g.getKey()).isEqualTo(DataType.FLOAT32);
                float[] actual = grad.toFloatArray();
                for (int i = 0; i < actual.length; i++) {
                    actual[i] /= scale;
                }
                double err = relativeL2(actual, g.getValue().floats());
                worst = Math.max(worst, err);
                assertThat(err).as("relative L2 error of grad " + g.getKey()).isLessThanOrEqualTo(0.05);
            }
            System.out.printf("%s float16 DPO: |loss diff| %.2e, worst gradient relative L2 %.2e (scale %.0f)%n",
                    dir.getFileName(), Math.abs(e.loss() - dpo.get("value").asDouble()), worst, scale);
        }
    }

    /** The loss curve of float16 training tracks float32's on the same pairs, step for step. */
    @Test
    void aFloat16RunTracksTheFloat32LossCurve() throws Exception {
        Path dir = HfParityTest.root().resolve("llama-tiny");
        HfParityTest.Fixture f = HfParityTest.Fixture.of(dir);
        double[] full = run(dir, f, Precision.FLOAT32);
        double[] half = run(dir, f, Precision.FLOAT16);
        double worst = 0;
        for (int i = 0; i < full.length; i++) {
            worst = Math.max(worst, Math.abs(full[i] - half[i]));
        }
        System.out.printf("loss curves over %d steps: float32 %.4f -> %.4f, float16 %.4f -> %.4f, worst step diff %.4f%n",
                full.length, full[0], full[full.length - 1], half[0], half[half.length - 1], worst);
        assertThat(full[full.length - 1]).as("the run learns").isLessThan(full[0] - 0.1);
        assertThat(worst).isLessThanOrEqualTo(0.02);
    }

    private static double[] run(Path dir, HfParityTest.Fixture f, Precision precision) {
        int vocab;
        try (TransformerLM probe = load(dir, f)) {
            vocab = probe.config().vocabSize();
        }
        Rng rng = new Rng(11);
        List<PreferenceExample> pairs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            pairs.add(new PreferenceExample(ids(rng, 5, vocab), ids(rng, 6, vocab), ids(rng, 6, vocab), 1.0 + i % 3));
        }
        DpoConfig config = new DpoConfig(LossType.SIGMOID, 0.1f, 0f, AdamWConfig.of(5e-4f)).withPrecision(precision);
        double[] losses = new double[40];
        try (DpoTrainer trainer = new DpoTrainer(load(dir, f), config)) {
            for (int s = 0; s < losses.length; s++) {
                StepResult r = trainer.step(pairs);
                assertThat(r.skipped()).as("step " + s).isFalse();
                losses[s] = r.loss();
            }
        }
        return losses;
    }

    private static int[] ids(Rng rng, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 1 + rng.nextInt(vocab - 1);
        }
        return t;
    }
}
