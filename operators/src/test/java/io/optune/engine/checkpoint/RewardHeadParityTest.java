package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.Json;
import io.optune.engine.model.RopePrecision;
import io.optune.engine.reward.HfRewardModel;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Reward parity for every decoder family, derived from the causal-LM fixtures (only a Qwen2 reward
 * fixture exists): transformers' {@code *ForSequenceClassification} is the backbone plus a bias-free
 * linear head read at the last non-pad token, so a reward checkpoint made of a fixture's backbone and
 * a head equal to row {@code j} of its LM head (the embedding, where tied) must score exactly the
 * logit {@code j} that transformers computed at that token. Checks the whole reward path of GPT-2,
 * Llama (and so Mistral), Qwen2 and Qwen3: names, heads, the last-token rule and padding.
 */
class RewardHeadParityTest {
    /** Head rows to try: a few vocabulary ids spread over the 512 of the tiny fixtures. */
    private static final int[] HEAD_ROWS = {3, 77, 500};

    static java.util.stream.Stream<Path> fixtures() throws Exception {
        return HfParityTest.fixtures();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void aHeadMadeOfAnLmHeadRowScoresTransformersLogitAtTheLastToken(Path dir, @TempDir Path tmp) throws Exception {
        HfParityTest.Fixture f = HfParityTest.Fixture.of(dir);
        int pad = f.meta().get("pad_id").asInt();
        FixtureTensors.Tensor logits = f.expected().get("logits"); // (B, T, V)
        int t = logits.dim(1);
        int v = logits.dim(2);
        List<int[]> cut = new ArrayList<>();
        List<int[]> padded = new ArrayList<>();
        for (int i = 0; i < f.rows("input_ids"); i++) {
            cut.add(f.row("input_ids", i, true));
            padded.add(f.row("input_ids", i, false));
        }
        RopePrecision rope = RopePrecision.ofTorchDtype(f.meta().path("stored_dtype").asText(null));
        for (int j : HEAD_ROWS) {
            Path rm = tmp.resolve("reward-" + j);
            deriveRewardCheckpoint(dir, rm, j, pad);
            try (HfRewardModel model = HfRewardModel.load(new LocalCheckpointFiles(rm), null,
                    HfRewardModel.Settings.defaults().withBatchSize(8).withRopePrecision(rope))) {
                double[] scoredCut = model.scoreTokens(cut);
                double[] scoredPadded = model.scoreTokens(padded);
                for (int i = 0; i < cut.size(); i++) {
                    int last = cut.get(i).length - 1;
                    assertThat(cut.get(i)[last]).as("row %d ends in a real token, not the pad id", i).isNotEqualTo(pad);
                    float expected = logits.floats()[(i * t + last) * v + j];
                    assertThat(scoredCut[i]).as("%s head row %d, batch row %d", dir.getFileName(), j, i)
                            .isCloseTo(expected, within(1e-4));
                    assertThat(scoredPadded[i]).as("%s head row %d, padded batch row %d", dir.getFileName(), j, i)
                            .isCloseTo(expected, within(1e-4));
                }
            }
        }
    }

    /**
     * Writes {@code out}: the fixture's config as a one-label {@code *ForSequenceClassification} with
     * {@code pad} as its pad id, and its tensors (float32, exact widening) with {@code score.weight}
     * = row {@code row} of the LM head, or of the input embedding where the two are tied.
     */
    static void deriveRewardCheckpoint(Path fixture, Path out, int row, int pad) throws IOException {
        Files.createDirectories(out);
        ObjectNode config = (ObjectNode) Json.MAPPER.readTree(fixture.resolve("config.json").toFile());
        String causal = config.path("architectures").path(0).asText();
        String reward = causal.replace("ForCausalLM", "ForSequenceClassification").replace("LMHeadModel", "ForSequenceClassification");
        assertThat(reward).endsWith("ForSequenceClassification");
        config.putArray("architectures").add(reward);
        config.putObject("id2label").put("0", "LABEL_0");
        config.putObject("label2id").put("LABEL_0", 0);
        config.put("pad_token_id", pad);
        Files.writeString(out.resolve("config.json"), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(config));

        Path weights = fixture.resolve("model.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            try (InputStream in = Files.newInputStream(weights)) {
                SafeTensorsStream.Header header = SafeTensorsStream.readHeader(in, weights.toString(), Files.size(weights));
                SafeTensorsStream.readTensors(in, header, weights.toString(), m, name -> true, tensors::put);
            }
            NDArray head = tensors.remove("lm_head.weight");
            if (head == null) {
                head = tensors.containsKey("transformer.wte.weight") ? tensors.get("transformer.wte.weight")
                        : tensors.get("model.embed_tokens.weight");
            }
            assertThat(head).as("an LM head or embedding in " + weights).isNotNull();
            tensors.put("score.weight", head.get(new NDIndex("{}:{}", row, row + 1)));
            try (OutputStream o = Files.newOutputStream(out.resolve("model.safetensors"))) {
                SafeTensorsStream.write(o, tensors, Map.of("format", "pt"), SafeTensorsStream.Dtype.F32);
            }
        }
    }
}
