package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Json;
import io.optune.engine.model.Batches;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.engine.tokenizer.HfTokenizer;
import io.optune.engine.tokenizer.Tokenizer;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PreferenceExample;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Round trip of a published policy directory: a trained model of each family is exported as a
 * Hugging Face checkpoint with its tokenizer files and reloaded with {@link HfCheckpoint#load} and
 * {@link HfTokenizer#load}; float32 gives identical logits, float16 and bfloat16 give every weight
 * rounded to nearest (relative error at most 2^-11 and 2^-8 for normal values).
 */
class PolicyDirectoryTest {
    private static NDManager manager;
    private static final CharTokenizer CHARS = new CharTokenizer();

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    private static Path fixture(String name) throws Exception {
        return Path.of(PolicyDirectoryTest.class.getResource("/hf/" + name).toURI());
    }

    /** The fixture model after two weighted-DPO steps, so the export is not just the file it came from. */
    private static TransformerLM trained(String name) throws Exception {
        TransformerLM model = HfCheckpoint.load(new LocalCheckpointFiles(fixture(name)), manager).model();
        DpoTrainer trainer = new DpoTrainer(model, new DpoConfig(LossType.SIGMOID, 0.5f, 0.1f, AdamWConfig.of(1e-2f)));
        List<PreferenceExample> batch = List.of(
                new PreferenceExample(CHARS.encode("add 1+2="), CHARS.encode("3"), CHARS.encode("4"), 1.0),
                new PreferenceExample(CHARS.encode("rev ab="), CHARS.encode("ba"), CHARS.encode("ab"), 0.5));
        trainer.step(batch);
        trainer.step(batch);
        trainer.reference().close();
        return model;
    }

    private static float[] logits(TransformerLM model) {
        try (NDManager m = manager.newSubManager()) {
            Batches.Inputs in = Batches.rightPadded(m, List.of(CHARS.encode("add 12+7=3"), CHARS.encode("rev abc=")), 0);
            return model.logits(model.hidden(in.tokens(), in.positions(), in.bias(), null)).toFloatArray();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "llama-tiny", "qwen3-tiny"})
    void aTrainedPolicyRoundTripsThroughItsHuggingFaceDirectory(String name, @TempDir Path tmp) throws Exception {
        try (TransformerLM model = trained(name)) {
            float[] before = logits(model);
            Map<String, float[]> weights = new java.util.HashMap<>();
            model.parameters().forEach((k, v) -> weights.put(k, v.toFloatArray()));
            for (SafeTensorsStream.Dtype dtype : SafeTensorsStream.Dtype.values()) {
                Path dir = tmp.resolve(dtype.name());
                PolicyDirectory.write(model, CHARS, PolicyDirectory.TokenizerFiles.of(CHARS), dtype, new LocalCheckpointFiles(dir));

                JsonNode config = Json.MAPPER.readTree(dir.resolve("config.json").toFile());
                assertThat(config.path("architectures").get(0).asText()).isEqualTo(model.config().family().architecture(false));
                assertThat(config.path("model_type").asText()).isEqualTo(model.config().family().modelType());
                assertThat(config.path("torch_dtype").asText()).isEqualTo(HfCheckpointWriter.torchName(dtype));
                assertThat(Json.MAPPER.readTree(dir.resolve("generation_config.json").toFile()).path("eos_token_id").asInt())
                        .isEqualTo(CHARS.eosId());
                try (InputStream in = Files.newInputStream(dir.resolve("model.safetensors"))) {
                    SafeTensorsStream.Header h = SafeTensorsStream.readHeader(in, "model.safetensors");
                    assertThat(h.metadata()).containsEntry("format", "pt");
                    assertThat(h.entries()).allSatisfy(e -> assertThat(e.dtype()).isEqualTo(dtype));
                    // A tied head is not stored, as save_pretrained does.
                    assertThat(h.entries().stream().anyMatch(e -> e.name().equals("lm_head.weight")))
                            .isEqualTo(!model.config().tiedEmbeddings());
                }

                HfCheckpoint.Loaded back = HfCheckpoint.load(new LocalCheckpointFiles(dir), manager);
                try (TransformerLM reloaded = back.model()) {
                    assertThat(reloaded.config()).isEqualTo(model.config());
                    if (dtype == SafeTensorsStream.Dtype.F32) {
                        assertThat(logits(reloaded)).containsExactly(before);
                    } else {
                        double rel = dtype == SafeTensorsStream.Dtype.F16 ? Math.scalb(1.0, -11) : Math.scalb(1.0, -8);
                        double tiny = dtype == SafeTensorsStream.Dtype.F16 ? Math.scalb(1.0, -24) : 0;
                        reloaded.parameters().forEach((k, v) -> {
                            float[] w = weights.get(k);
                            float[] r = v.toFloatArray();
                            for (int i = 0; i < w.length; i++) {
                                assertThat((double) Math.abs(r[i] - w[i])).as("%s[%d] in %s", k, i, dtype)
                                        .isLessThanOrEqualTo(rel * Math.abs(w[i]) + tiny);
                            }
                        });
                        // Relative to the largest logit (about 12-15 here); measured on these fixtures: at most
                        // 1.3e-3 (float16, about 2.6x its 2^-11 rounding) and 1.0e-2 (bfloat16, 2.6x its 2^-8).
                        float[] after = logits(reloaded);
                        double max = 0;
                        double scale = 0;
                        for (int i = 0; i < after.length; i++) {
                            max = Math.max(max, Math.abs(after[i] - before[i]));
                            scale = Math.max(scale, Math.abs(before[i]));
                        }
                        assertThat(max / scale).isLessThan(dtype == SafeTensorsStream.Dtype.F16 ? 4e-3 : 3e-2);
                    }
                }
                Tokenizer tokenizer = PolicyDirectory.loadTokenizer(dir);
                assertThat(tokenizer).isEqualTo(CHARS);
            }
        }
    }

    @Test
    void theGeneratedCharTokenizerFileEncodesAsTheCharTokenizer(@TempDir Path tmp) throws Exception {
        for (Map.Entry<String, byte[]> f : PolicyDirectory.TokenizerFiles.of(CHARS).files().entrySet()) {
            Files.write(tmp.resolve(f.getKey()), f.getValue());
        }
        HfTokenizer hf = HfTokenizer.load(tmp);
        assertThat(hf.vocabSize()).isEqualTo(CHARS.vocabSize());
        assertThat(hf.bosId()).isEqualTo(CHARS.bosId());
        assertThat(hf.eosIds()).containsExactly(CHARS.eosIds());
        assertThat(hf.padId()).isEqualTo(CHARS.padId());
        for (String text : List.of("add 12+7=", "rev abc=", " ~!{}|\"'`\\", "copy  two  spaces")) {
            assertThat(hf.encode(text)).as(text).containsExactly(CHARS.encode(text));
            int[] ids = CHARS.encode(text);
            assertThat(hf.decode(ids)).isEqualTo(CHARS.decode(ids));
        }
    }

    @Test
    void huggingFaceTokenizerFilesTravelWithThePolicy(@TempDir Path tmp) throws Exception {
        HfTokenizer gpt2 = HfTokenizer.load(fixture("tokenizers/gpt2"));
        try (TransformerLM model = TransformerLM.create(ModelConfig.gpt2(50257, 64, 8, 1, 2), manager, 1, false)) {
            Path dir = tmp.resolve("v");
            PolicyDirectory.write(model, gpt2, PolicyDirectory.TokenizerFiles.of(gpt2), SafeTensorsStream.Dtype.F32,
                    new LocalCheckpointFiles(dir));
            assertThat(dir.resolve("tokenizer.json")).isRegularFile(); // unpacked from tokenizer.json.gz
            PolicyDirectory.Loaded loaded = PolicyDirectory.load(dir, manager);
            try (TransformerLM back = loaded.model()) {
                assertThat(loaded.tokenizer()).isInstanceOf(HfTokenizer.class);
                assertThat(loaded.tokenizer().encode("Hello world, 12+7")).containsExactly(gpt2.encode("Hello world, 12+7"));
                assertThat(loaded.tokenizer().eosIds()).containsExactly(gpt2.eosIds());
            }
        }
    }

    @Test
    void aTokenizerLargerThanTheModelIsRefused(@TempDir Path tmp) throws Exception {
        HfTokenizer gpt2 = HfTokenizer.load(fixture("tokenizers/gpt2"));
        try (TransformerLM model = TransformerLM.create(ModelConfig.gpt2(512, 64, 8, 1, 2), manager, 1, false)) {
            assertThatThrownBy(() -> PolicyDirectory.write(model, gpt2, PolicyDirectory.TokenizerFiles.of(gpt2),
                    SafeTensorsStream.Dtype.F32, new LocalCheckpointFiles(tmp)))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("50257 ids, more than the model's vocabulary of 512");
        }
    }

    @Test
    void aDirectoryWithoutTokenizerIsRefusedClearly() throws Exception {
        assertThatThrownBy(() -> PolicyDirectory.load(fixture("gpt2-tiny"), manager))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("has no tokenizer (tokenizer.json)");
    }
}
