package io.optune.engine.reward;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.InvalidInputException;
import io.optune.engine.Json;
import io.optune.engine.checkpoint.CheckpointException;
import io.optune.engine.checkpoint.GenerationSettings;
import io.optune.engine.checkpoint.HfCheckpointWriter;
import io.optune.engine.checkpoint.LocalCheckpointFiles;
import io.optune.engine.checkpoint.RewardFixtures;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.RopePrecision;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.ChatMessage;
import io.optune.engine.tokenizer.TemplatedCharTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/**
 * Parity with transformers' {@code *ForSequenceClassification} (data-driven over the reward
 * fixtures: the test resources' {@code hf-reward/}, or {@code -Doptune.hf.reward.fixtures=/path}),
 * plus the rendering, batching and error rules of {@link HfRewardModel}.
 */
class HfRewardModelTest {
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
        return RewardFixtures.dirs().stream();
    }

    @Test
    void theFixtureRootHoldsTheQwen2RewardModel() throws Exception {
        List<String> names = RewardFixtures.dirs().stream().map(p -> p.getFileName().toString()).toList();
        if (System.getProperty(RewardFixtures.ROOT_PROPERTY) == null) {
            assertThat(names).contains("qwen2-reward-tiny");
        } else {
            assertThat(names).isNotEmpty();
        }
    }

    private static HfRewardModel loadFixture(Path dir, JsonNode meta, int batchSize) {
        RopePrecision rope = RopePrecision.ofTorchDtype(meta.path("stored_dtype").asText(null));
        return HfRewardModel.load(new LocalCheckpointFiles(dir), null,
                HfRewardModel.Settings.defaults().withBatchSize(batchSize).withRopePrecision(rope));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void rewardsOfARightPaddedBatchMatchTransformers(Path dir) throws Exception {
        RewardFixtures.Fixture f = RewardFixtures.Fixture.of(dir);
        try (HfRewardModel model = loadFixture(dir, f.meta(), 16)) {
            // Rows cut at the attention mask, and the same rows with their padding: the last non-pad
            // rule must find the same end in both.
            double[] cut = model.scoreTokens(f.rows(true));
            double[] padded = model.scoreTokens(f.rows(false));
            float[] expected = f.rewards();
            assertThat(cut).hasSize(expected.length);
            for (int i = 0; i < expected.length; i++) {
                assertThat(cut[i]).as("reward of row " + i).isCloseTo(expected[i], within(1e-4));
                assertThat(padded[i]).as("reward of padded row " + i).isCloseTo(expected[i], within(1e-4));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void batchedScoresEqualOneAtATime(Path dir) throws Exception {
        RewardFixtures.Fixture f = RewardFixtures.Fixture.of(dir);
        Random rnd = new Random(7);
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < 11; i++) {
            int[] r = new int[1 + rnd.nextInt(20)];
            for (int j = 0; j < r.length; j++) {
                r[j] = 1 + rnd.nextInt(200);
            }
            rows.add(r);
        }
        try (HfRewardModel batched = loadFixture(dir, f.meta(), 4); HfRewardModel single = loadFixture(dir, f.meta(), 1)) {
            double[] b = batched.scoreTokens(rows);
            for (int i = 0; i < rows.size(); i++) {
                double one = single.scoreTokens(List.of(rows.get(i)))[0];
                assertThat(b[i]).as("row " + i).isCloseTo(one, within(1e-5));
            }
            // Distinct inputs give distinct scores, so an order mix-up would show.
            assertThat(Arrays.stream(b).distinct().count()).isEqualTo(rows.size());
        }
    }

    @Test
    void lastTokenIndexFollowsTransformers() {
        assertThat(HfRewardModel.lastTokenIndex(new int[] {5, 6, 7}, 0)).isEqualTo(2);
        assertThat(HfRewardModel.lastTokenIndex(new int[] {5, 6, 0, 0}, 0)).isEqualTo(1);
        // An id equal to the pad id inside the sequence does not end it; one at the end does (EOS as pad).
        assertThat(HfRewardModel.lastTokenIndex(new int[] {5, 0, 7, 9}, 9)).isEqualTo(2);
        assertThat(HfRewardModel.lastTokenIndex(new int[] {0, 0}, 0)).isEqualTo(0);
        assertThat(HfRewardModel.lastTokenIndex(new int[] {5, 6, 0}, -1)).isEqualTo(2);
    }

    /** A random Qwen2-shaped reward model over the templated char vocabulary, written as an HF checkpoint. */
    private static Path writeCharRewardModel(Path dir, int context, Integer pad) {
        TemplatedCharTokenizer tok = new TemplatedCharTokenizer();
        ModelConfig c = new ModelConfig(io.optune.engine.model.ModelFamily.QWEN2, tok.vocabSize(), context, 32, 2, 4, 2, 8, 64,
                1e-6f, 10000.0, false, RopePrecision.FLOAT32);
        try (TransformerLM m = TransformerLM.create(c, manager, 3, true)) {
            HfCheckpointWriter.write(m, new GenerationSettings(List.of(tok.eosId()), pad, null), new LocalCheckpointFiles(dir),
                    SafeTensorsStream.Dtype.F32);
        }
        return dir;
    }

    @Test
    void chatQueriesAreRenderedByTheRewardModelsTemplateWithTheResponseAsAnAssistantTurn(@TempDir Path tmp) {
        TemplatedCharTokenizer tok = new TemplatedCharTokenizer();
        List<ChatMessage> prompt = List.of(ChatMessage.system("be brief"), ChatMessage.user("hi"));
        try (HfRewardModel model = HfRewardModel.load(new LocalCheckpointFiles(writeCharRewardModel(tmp, 64, tok.padId())), tok,
                HfRewardModel.Settings.defaults())) {
            RewardQuery chat = RewardQuery.chat(prompt, "hello");
            // The template's markup, the response as the last turn, and no generation prompt after it.
            assertThat(model.encode(chat)).isEqualTo(tok.encode("s:be brief|u:hi|a:hello|"));
            RewardQuery text = RewardQuery.text("hi ", "hello");
            int[] textIds = model.encode(text);
            assertThat(textIds).isEqualTo(concat(tok.bosId().stream().toArray(), tok.encode("hi hello")));
            double[] s = model.score(List.of(chat, text));
            assertThat(s[0]).isCloseTo(model.scoreTokens(List.of(tok.encode("s:be brief|u:hi|a:hello|")))[0], within(1e-6));
            assertThat(s[0]).isNotCloseTo(s[1], within(1e-6));
        }
    }

    @Test
    void overLongSequencesScoreNaNAndAreCounted(@TempDir Path tmp) {
        TemplatedCharTokenizer tok = new TemplatedCharTokenizer();
        try (HfRewardModel model = HfRewardModel.load(new LocalCheckpointFiles(writeCharRewardModel(tmp, 16, tok.padId())), tok,
                HfRewardModel.Settings.defaults())) {
            double[] s = model.score(List.of(RewardQuery.text("ab", "cd"), RewardQuery.text("a".repeat(20), "b")));
            assertThat(s[0]).isFinite();
            assertThat(s[1]).isNaN();
            assertThat(model.overLong()).isEqualTo(1);
        }
    }

    @Test
    void aChatPromptForARewardTokenizerWithoutTemplateIsUnscorable(@TempDir Path tmp) {
        io.optune.engine.tokenizer.CharTokenizer plain = new io.optune.engine.tokenizer.CharTokenizer();
        try (HfRewardModel model = HfRewardModel.load(new LocalCheckpointFiles(writeCharRewardModel(tmp, 64, 0)), plain,
                HfRewardModel.Settings.defaults())) {
            assertThatThrownBy(() -> model.score(List.of(RewardQuery.chat(List.of(ChatMessage.user("hi")), "x"))))
                    .isInstanceOf(InvalidInputException.class)
                    .hasMessageContaining("no chat template")
                    .satisfies(e -> assertThat(((InvalidInputException) e).reason()).isEqualTo("unscorable-prompt"));
            assertThat(model.accepts()).contains("text prompts only");
        }
    }

    @Test
    void aCheckpointWithoutTheScoreHeadIsAClearError(@TempDir Path tmp) throws Exception {
        TemplatedCharTokenizer tok = new TemplatedCharTokenizer();
        ModelConfig c = new ModelConfig(io.optune.engine.model.ModelFamily.QWEN2, tok.vocabSize(), 64, 32, 1, 4, 2, 8, 64,
                1e-6f, 10000.0, false, RopePrecision.FLOAT32);
        try (TransformerLM m = TransformerLM.create(c, manager, 3, false)) {
            HfCheckpointWriter.write(m, null, new LocalCheckpointFiles(tmp), SafeTensorsStream.Dtype.F32);
        }
        assertThatThrownBy(() -> HfRewardModel.load(new LocalCheckpointFiles(tmp), tok, HfRewardModel.Settings.defaults()))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("is not a reward model")
                .hasMessageContaining("Qwen2ForCausalLM");
        // Claiming to be a classifier does not make the head appear.
        ObjectNode config = (ObjectNode) Json.MAPPER.readTree(tmp.resolve("config.json").toFile());
        config.putArray("architectures").add("Qwen2ForSequenceClassification");
        config.put("num_labels", 1);
        config.remove("tie_word_embeddings");
        Files.writeString(tmp.resolve("config.json"), config.toString());
        assertThatThrownBy(() -> HfRewardModel.load(new LocalCheckpointFiles(tmp), tok, HfRewardModel.Settings.defaults()))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("score.weight")
                .hasMessageContaining("reward head");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void moreThanOneLabelIsRefusedClearly(Path dir, @TempDir Path tmp) throws Exception {
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            Files.copy(dir.resolve(f), tmp.resolve(f));
        }
        ObjectNode config = (ObjectNode) Json.MAPPER.readTree(tmp.resolve("config.json").toFile());
        config.put("num_labels", 2);
        Files.writeString(tmp.resolve("config.json"), config.toString());
        assertThatThrownBy(() -> HfRewardModel.load(new LocalCheckpointFiles(tmp), null, HfRewardModel.Settings.defaults()))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("2 labels").hasMessageContaining("num_labels 1");
        // The same through id2label, as transformers writes it.
        config.remove("num_labels");
        ObjectNode labels = config.putObject("id2label");
        labels.put("0", "bad");
        labels.put("1", "good");
        Files.writeString(tmp.resolve("config.json"), config.toString());
        assertThatThrownBy(() -> HfRewardModel.load(new LocalCheckpointFiles(tmp), null, HfRewardModel.Settings.defaults()))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("2 labels");
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
