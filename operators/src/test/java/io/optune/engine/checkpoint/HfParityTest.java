package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Json;
import io.optune.engine.Rng;
import io.optune.engine.generate.Completion;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.model.Batches;
import io.optune.engine.model.LogProbs;
import io.optune.engine.model.RopePrecision;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PreferenceExample;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Parity with Hugging Face transformers, data-driven: every directory under the fixture root
 * (the test resources' {@code hf/}, or {@code -Doptune.hf.fixtures=/path}) that holds a causal-LM
 * checkpoint with an {@code expected.json} is loaded through {@link HfCheckpoint} and checked, in
 * float32, against the values transformers computed (see {@code expected.json} of each): full
 * logits of a right-padded batch, summed response log-probs, a greedy continuation, and the DPO
 * loss and the gradient of every parameter through the engine's own {@link DpoTrainer}.
 */
class HfParityTest {
    static final String ROOT_PROPERTY = "optune.hf.fixtures";

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    static Path root() throws URISyntaxException {
        String override = System.getProperty(ROOT_PROPERTY);
        if (override != null && !override.isBlank()) {
            return Path.of(override);
        }
        return Path.of(HfParityTest.class.getResource("/hf").toURI());
    }

    static Stream<Path> fixtures() throws Exception {
        List<Path> dirs = new ArrayList<>();
        try (Stream<Path> s = Files.list(root())) {
            s.filter(d -> Files.isRegularFile(d.resolve("expected.json")) && Files.isRegularFile(d.resolve("config.json")))
                    .filter(d -> !HfCheckpoint.isRewardModel(new LocalCheckpointFiles(d)))
                    .sorted()
                    .forEach(dirs::add);
        }
        return dirs.stream();
    }

    @Test
    void theFixtureRootHoldsEveryFamily() throws Exception {
        List<String> names = fixtures().map(p -> p.getFileName().toString()).toList();
        if (System.getProperty(ROOT_PROPERTY) == null) {
            assertThat(names).contains("gpt2-tiny", "llama-tiny", "qwen2-tiny", "qwen3-tiny");
        } else {
            assertThat(names).isNotEmpty();
        }
    }

    /** A fixture directory with its reference values. */
    record Fixture(Path dir, JsonNode meta, Map<String, FixtureTensors.Tensor> expected) {
        static Fixture of(Path dir) throws IOException {
            return new Fixture(dir, Json.MAPPER.readTree(dir.resolve("expected.json").toFile()),
                    FixtureTensors.read(dir.resolve("expected.safetensors")));
        }

        int promptLen() {
            return meta.get("prompt_len").asInt();
        }

        /** Row i of a (B, T) id tensor, cut at its attention mask. */
        int[] row(String name, int i, boolean cutAtMask) {
            FixtureTensors.Tensor ids = expected.get(name);
            int t = ids.dim(1);
            int len = t;
            if (cutAtMask) {
                long[] mask = expected.get("attention_mask").longs();
                len = 0;
                for (int j = 0; j < t; j++) {
                    len += (int) mask[i * t + j];
                }
            }
            int[] out = new int[len];
            for (int j = 0; j < len; j++) {
                out[j] = (int) ids.longs()[i * t + j];
            }
            return out;
        }

        int rows(String name) {
            return expected.get(name).dim(0);
        }
    }

    /**
     * The fixture script casts each model to its stored dtype and back to float32, which rounds the
     * RoPE frequency buffer too; the checkpoint is loaded with frequencies of that precision.
     */
    private static TransformerLM load(Path dir, Fixture f) {
        return load(dir, f, manager);
    }

    /** A fixture checkpoint on {@code manager}, with its RoPE precision (shared by the float16 tests). */
    static TransformerLM load(Path dir, Fixture f, NDManager manager) {
        RopePrecision rope = RopePrecision.ofTorchDtype(f.meta().path("stored_dtype").asText(null));
        return HfCheckpoint.load(new LocalCheckpointFiles(dir), manager, rope).model();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void logitsOfAPaddedBatchMatchTransformers(Path dir) throws IOException {
        Fixture f = Fixture.of(dir);
        float[] expected = f.expected().get("logits").floats();
        try (TransformerLM model = load(dir, f); NDManager m = manager.newSubManager()) {
            int b = f.rows("input_ids");
            int t = f.expected().get("input_ids").dim(1);
            List<int[]> rows = new ArrayList<>();
            for (int i = 0; i < b; i++) {
                rows.add(f.row("input_ids", i, true));
            }
            // Padded positions carry id 0 in the fixture too, so every position is comparable.
            Batches.Inputs in = Batches.rightPadded(m, rows, f.meta().get("pad_id").asInt());
            assertThat(in.tokens().getShape().get(1)).isEqualTo(t);
            float[] actual = model.logits(model.hidden(in.tokens(), in.positions(), in.bias(), null)).toFloatArray();
            assertThat(actual).hasSameSizeAs(expected);
            assertThat(maxAbsDiff(actual, expected)).as("max |logits - transformers'|").isLessThanOrEqualTo(1e-4);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void responseLogProbsMatchTransformers(Path dir) throws IOException {
        Fixture f = Fixture.of(dir);
        float[] expected = f.expected().get("response_logps").floats();
        int p = f.promptLen();
        try (TransformerLM model = load(dir, f)) {
            List<int[]> prompts = new ArrayList<>();
            List<int[]> responses = new ArrayList<>();
            for (int i = 0; i < f.rows("input_ids"); i++) {
                int[] row = f.row("input_ids", i, true);
                prompts.add(Arrays.copyOf(row, p));
                responses.add(Arrays.copyOfRange(row, p, row.length));
            }
            float[] actual = LogProbs.sequenceLogProbsNoGrad(model, manager, prompts, responses);
            assertThat(maxAbsDiff(actual, expected)).as("max |log-prob - transformers'|").isLessThanOrEqualTo(1e-3);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void greedyContinuationMatchesTransformersWhereTheMarginIsClear(Path dir) throws IOException {
        Fixture f = Fixture.of(dir);
        int p = f.promptLen();
        int[] greedy = f.row("greedy_ids", 0, false);
        JsonNode margins = f.meta().get("greedy_top1_top2_margins");
        int steps = greedy.length - p;
        try (TransformerLM model = load(dir, f)) {
            // No EOS: the reference ran a fixed number of steps without stopping.
            Generator gen = new Generator(model, new int[0], 0);
            List<Completion> out = gen.generate(manager, List.of(Arrays.copyOf(greedy, p)),
                    SamplingConfig.greedy(steps), new Rng(0));
            int[] ids = out.get(0).tokens();
            assertThat(ids).hasSize(steps);
            int compared = 0;
            for (int s = 0; s < steps; s++) {
                if (ids[s] != greedy[p + s]) {
                    // Only a near-tie may differ, and the continuations part ways from there on.
                    assertThat(margins.get(s).asDouble()).as("margin at step " + s).isLessThanOrEqualTo(1e-3);
                    break;
                }
                compared++;
            }
            assertThat(compared).isPositive();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void dpoLossAndEveryGradientMatchTransformers(Path dir) throws IOException {
        Fixture f = Fixture.of(dir);
        JsonNode dpo = f.meta().get("dpo");
        int p = dpo.get("prompt_len").asInt();
        int[] chosen = f.row("dpo_pair_ids", 0, false);
        int[] rejected = f.row("dpo_pair_ids", 1, false);
        assertThat(Arrays.copyOf(rejected, p)).isEqualTo(Arrays.copyOf(chosen, p));
        Map<String, FixtureTensors.Tensor> grads = FixtureTensors.read(dir.resolve("expected_dpo_grads.safetensors"));
        DpoConfig config = new DpoConfig(LossType.SIGMOID, (float) dpo.get("beta").asDouble(), 0f, AdamWConfig.of(1e-3f));
        try (DpoTrainer trainer = new DpoTrainer(load(dir, f), load(dir.resolve(dpo.get("reference").asText()), f), config)) {
            PreferenceExample pair = new PreferenceExample(Arrays.copyOf(chosen, p),
                    Arrays.copyOfRange(chosen, p, chosen.length), Arrays.copyOfRange(rejected, p, rejected.length), 1.0);
            DpoTrainer.Evaluation e = trainer.lossAndGradients(List.of(pair));
            assertThat(Math.abs(e.loss() - dpo.get("value").asDouble())).as("|DPO loss - transformers'|")
                    .isLessThanOrEqualTo(1e-5);
            assertThat(Math.abs(e.margins()[0] - dpo.get("h").asDouble())).isLessThanOrEqualTo(1e-3);
            Map<String, NDArray> params = trainer.policy().parameters();
            assertThat(params.keySet()).as("parameters by Hugging Face name").containsExactlyInAnyOrderElementsOf(grads.keySet());
            for (Map.Entry<String, FixtureTensors.Tensor> g : grads.entrySet()) {
                float[] actual = params.get(g.getKey()).getGradient().toFloatArray();
                assertThat(relativeL2(actual, g.getValue().floats())).as("relative L2 error of grad " + g.getKey())
                        .isLessThanOrEqualTo(1e-3);
            }
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs((double) a[i] - b[i]));
        }
        return max;
    }

    static double relativeL2(float[] actual, float[] expected) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = (double) actual[i] - expected[i];
            diff += d * d;
            norm += (double) expected[i] * expected[i];
        }
        return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
    }
}
