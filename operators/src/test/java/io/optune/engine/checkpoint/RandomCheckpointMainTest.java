package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDManager;
import io.optune.engine.Json;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.ModelFamily;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RandomCheckpointMainTest {
    @TempDir
    Path tmp;

    @Test
    void writesALoadableCheckpointWithTheTokenizersVocabularyAndEos() throws Exception {
        Path tok = Files.createDirectories(tmp.resolve("tok"));
        Files.writeString(tok.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2}},"
                + " \"added_tokens\": [{\"id\": 3, \"content\": \"<eos>\"}, {\"id\": 4, \"content\": \"<pad>\"}]}");
        Files.writeString(tok.resolve("tokenizer_config.json"), "{\"eos_token\": \"<eos>\"}");
        Path out = tmp.resolve("ckpt");
        RandomCheckpointMain.main(new String[] {"--shape", "gpt2-mini", "--out", out.toString(), "--tokenizer", tok.toString(),
                "--dtype", "bf16"});
        ModelConfig config = HfCheckpoint.readConfig(new LocalCheckpointFiles(out));
        assertThat(config.family()).isEqualTo(ModelFamily.GPT2);
        assertThat(config.vocabSize()).isEqualTo(5);
        assertThat(config.width()).isEqualTo(384);
        assertThat(Json.MAPPER.readTree(out.resolve("config.json").toFile()).get("torch_dtype").asText()).isEqualTo("bfloat16");
        assertThat(out.resolve("tokenizer.json")).exists();
        try (NDManager manager = NDManager.newBaseManager()) {
            HfCheckpoint.Loaded loaded = HfCheckpoint.load(new LocalCheckpointFiles(out), manager);
            assertThat(loaded.generation().eosTokenIds()).containsExactly(3);
            assertThat(loaded.model().parameterCount()).isGreaterThan(10_000_000L);
            loaded.model().close();
        }
        assertThatThrownBy(() -> RandomCheckpointMain.main(new String[] {"--shape", "gpt2-mini", "--out", out.toString()}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not empty");
        assertThatThrownBy(() -> RandomCheckpointMain.main(new String[] {"--shape", "gpt9", "--out", tmp.resolve("x").toString()}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("gpt2-small");
    }

    @Test
    void withoutATokenizerConfigTheUsualEndOfTextTokenIsTheEos() throws Exception {
        Path tok = Files.createDirectories(tmp.resolve("tok2"));
        Files.writeString(tok.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"d\": 3}},"
                + " \"added_tokens\": [{\"id\": 4, \"content\": \"<|endoftext|>\"}]}");
        Path out = tmp.resolve("ckpt2");
        RandomCheckpointMain.write(CheckpointShape.GPT2_MINI, out, SafeTensorsStream.Dtype.F16, tok, null, null, 1);
        assertThat(HfCheckpoint.readGeneration(new LocalCheckpointFiles(out)).eosTokenIds()).containsExactly(4);
    }

    @Test
    void withTheGpt2TokenizerItWritesACompletePolicyDirectory() throws Exception {
        Path gpt2 = Path.of(RandomCheckpointMainTest.class.getResource("/hf/tokenizers/gpt2").toURI());
        Path out = tmp.resolve("policy");
        RandomCheckpointMain.main(new String[] {"--shape", "gpt2-mini", "--out", out.toString(), "--tokenizer", gpt2.toString(),
                "--dtype", "bf16"});
        assertThat(out.resolve("tokenizer.json")).isRegularFile(); // unpacked from tokenizer.json.gz
        try (NDManager manager = NDManager.newBaseManager()) {
            PolicyDirectory.Loaded loaded = PolicyDirectory.load(out, manager);
            assertThat(loaded.model().config().vocabSize()).isEqualTo(50257);
            assertThat(loaded.tokenizer()).isInstanceOf(io.optune.engine.tokenizer.HfTokenizer.class);
            assertThat(loaded.tokenizer().eosIds()).containsExactly(50256);
            assertThat(loaded.tokenizer().encode("Hello world")).containsExactly(15496, 995);
            loaded.model().close();
        }
    }

    @Test
    void theCharTokenizerMakesABuiltInTaskPolicy() throws Exception {
        Path out = tmp.resolve("chars");
        RandomCheckpointMain.main(new String[] {"--shape", "gpt2-mini", "--out", out.toString(), "--tokenizer", "char",
                "--vocab", "98"});
        try (NDManager manager = NDManager.newBaseManager()) {
            PolicyDirectory.Loaded loaded = PolicyDirectory.load(out, manager);
            assertThat(loaded.tokenizer()).isEqualTo(new io.optune.engine.tokenizer.CharTokenizer());
            assertThat(loaded.model().config().vocabSize()).isEqualTo(98);
            assertThat(HfCheckpoint.readGeneration(new LocalCheckpointFiles(out)).eosTokenIds()).containsExactly(2);
            loaded.model().close();
        }
    }

    @Test
    void writesARewardModelThatPadsWithEos() throws Exception {
        Path tok = Files.createDirectories(tmp.resolve("tok3"));
        Files.writeString(tok.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"d\": 3}},"
                + " \"added_tokens\": [{\"id\": 4, \"content\": \"<|endoftext|>\"}]}");
        Path out = tmp.resolve("rm");
        RandomCheckpointMain.main(new String[] {"--shape", "gpt2-mini", "--out", out.toString(), "--tokenizer", tok.toString(),
                "--reward", "true"});
        var config = HfCheckpoint.readConfigJson(new LocalCheckpointFiles(out));
        assertThat(config.get("architectures").get(0).asText()).isEqualTo("GPT2ForSequenceClassification");
        assertThat(config.get("num_labels").asInt()).isEqualTo(1);
        assertThat(config.get("pad_token_id").asInt()).isEqualTo(4);
        try (NDManager manager = NDManager.newBaseManager()) {
            HfCheckpoint.Loaded loaded = HfCheckpoint.load(new LocalCheckpointFiles(out), manager);
            assertThat(loaded.model().hasScalarHead()).isTrue();
            loaded.model().close();
        }
    }
}
