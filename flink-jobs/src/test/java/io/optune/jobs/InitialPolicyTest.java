package io.optune.jobs;

import ai.djl.ndarray.NDManager;
import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.checkpoint.HfCheckpointWriter;
import io.optune.engine.checkpoint.LocalCheckpointFiles;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.engine.tokenizer.HfTokenizer;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.weights.VersionManifest;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code optune.policy.checkpoint} becomes version 0, with clear errors for checkpoints that cannot serve. */
class InitialPolicyTest {
    @TempDir
    Path tmp;

    /**
     * A random GPT-2 checkpoint with a plain Hugging Face tokenizer.json (the char vocabulary without
     * the marker that selects the built-in tokenizer, so it loads as an {@link HfTokenizer}).
     */
    private Path checkpoint(String name, int vocab, int context) throws Exception {
        Path dir = tmp.resolve(name);
        try (NDManager m = NDManager.newBaseManager();
                TransformerLM model = TransformerLM.create(ModelConfig.gpt2(vocab, context, 16, 1, 2), m, 5, false)) {
            HfCheckpointWriter.write(model, null, new LocalCheckpointFiles(dir), SafeTensorsStream.Dtype.BF16);
        }
        byte[] tokenizer = PolicyDirectory.TokenizerFiles.of(new CharTokenizer()).files().get("tokenizer.json");
        Files.write(dir.resolve("tokenizer.json"), tokenizer);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"pad_token\": \"<pad>\"}");
        return dir;
    }

    private FileSystemWeightLog log(String name) throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(tmp.resolve(name).toUri().toString()).build();
        log.initialize();
        return log;
    }

    private static Configuration conf(Path policy) {
        Configuration c = new Configuration();
        if (policy != null) {
            c.set(OptuneOptions.POLICY_CHECKPOINT, policy.toUri().toString());
        }
        return c;
    }

    @Test
    void thePolicyCheckpointIsPublishedAsVersionZeroInTheChosenDtype() throws Exception {
        Path ckpt = checkpoint("policy", 128, 64);
        FileSystemWeightLog log = log("weights");
        Configuration c = conf(ckpt);
        c.set(OptuneOptions.WEIGHTS_DTYPE, OptuneOptions.WeightsDtype.FLOAT16);
        List<String> progress = new ArrayList<>();
        PolicyUpdate v0 = InitialPolicy.ensure(c, log, progress::add);
        assertThat(v0.version()).isZero();
        assertThat(progress).anyMatch(s -> s.contains("published " + ckpt.toUri()));
        try (VerifiedVersion v = log.readVerified(v0); NDManager m = NDManager.newBaseManager()) {
            assertThat(v.manifest().files().keySet()).containsExactlyInAnyOrder("config.json", "generation_config.json",
                    "model.safetensors", "tokenizer.json", "tokenizer_config.json");
            assertThat(Files.readString(v.dir().resolve("config.json"))).contains("\"torch_dtype\" : \"float16\"");
            PolicyDirectory.Loaded loaded = PolicyDirectory.load(v.dir(), m);
            assertThat(loaded.tokenizer()).isInstanceOf(HfTokenizer.class);
            assertThat(loaded.tokenizer().encode("add 1+2=")).containsExactly(new CharTokenizer().encode("add 1+2="));
            assertThat(loaded.model().config()).isEqualTo(ModelConfig.gpt2(128, 64, 16, 1, 2));
            loaded.model().close();
        }
        // A second start finds version 0 and publishes nothing.
        assertThat(InitialPolicy.ensure(c, log, s -> { }).sha256()).isEqualTo(v0.sha256());
        assertThat(log.versions()).hasSize(1);
    }

    @Test
    void checkpointsThatCannotServeAreRefusedWithTheReason() throws Exception {
        String key = "--" + OptuneOptions.POLICY_CHECKPOINT.key();
        assertThatThrownBy(() -> InitialPolicy.ensure(conf(tmp.resolve("absent")), log("w1"), s -> { }))
                .hasMessageContaining(key).hasMessageContaining("no such directory");
        Files.createDirectories(tmp.resolve("empty"));
        assertThatThrownBy(() -> InitialPolicy.ensure(conf(tmp.resolve("empty")), log("w2"), s -> { }))
                .hasMessageContaining("no config.json");

        Path noTokenizer = checkpoint("no-tokenizer", 128, 64);
        Files.delete(noTokenizer.resolve("tokenizer.json"));
        assertThatThrownBy(() -> InitialPolicy.ensure(conf(noTokenizer), log("w3"), s -> { }))
                .hasMessageContaining("has no tokenizer");

        Path bert = checkpoint("bert", 128, 64);
        Files.writeString(bert.resolve("config.json"), Files.readString(bert.resolve("config.json")).replace("\"gpt2\"", "\"bert\""));
        assertThatThrownBy(() -> InitialPolicy.ensure(conf(bert), log("w4"), s -> { })).hasMessageContaining("bert");

        Path small = checkpoint("small-vocab", 64, 64);
        assertThatThrownBy(() -> InitialPolicy.ensure(conf(small), log("w5"), s -> { }))
                .hasMessageContaining("the tokenizer has 98 ids, more than the model's vocabulary of 64");

        Path shortContext = checkpoint("short", 128, 32);
        assertThatThrownBy(() -> InitialPolicy.ensure(conf(shortContext), log("w6"), s -> { }))
                .hasMessageContaining("context of 32 tokens is shorter than");

        Configuration badRef = conf(checkpoint("ok", 128, 64));
        badRef.set(OptuneOptions.REFERENCE_CHECKPOINT, tmp.resolve("no-ref").toString());
        assertThatThrownBy(() -> InitialPolicy.ensure(badRef, log("w7"), s -> { }))
                .hasMessageContaining("--" + OptuneOptions.REFERENCE_CHECKPOINT.key()).hasMessageContaining("no such directory");
        // Nothing was published by any refused start.
        for (String w : List.of("w1", "w2", "w3", "w4", "w5", "w6", "w7")) {
            assertThat(log(w).versions()).as(w).isEmpty();
        }
    }

    @Test
    void aVersionDirectoryIsItselfAValidPolicyCheckpoint() throws Exception {
        // A published version (here with the built-in char tokenizer) can start another job as it is.
        FileSystemWeightLog first = log("first");
        try (NDManager m = NDManager.newBaseManager();
                TransformerLM model = TransformerLM.create(ModelConfig.tiny(new CharTokenizer().vocabSize()), m, 1, false)) {
            CharTokenizer chars = new CharTokenizer();
            first.publish(new PolicyUpdate(0, 0, null, null, 1L, 0, 0, 0, 0, 0, Double.NaN),
                    d -> PolicyDirectory.write(model, chars, PolicyDirectory.TokenizerFiles.of(chars), SafeTensorsStream.Dtype.F32, d));
        }
        Path v0 = tmp.resolve("first").resolve(FileSystemWeightLog.VERSIONS).resolve(String.format("v%012d", 0));
        assertThat(v0.resolve(VersionManifest.FILE)).isRegularFile();
        FileSystemWeightLog second = log("second");
        PolicyUpdate started = InitialPolicy.ensure(conf(v0), second, s -> { });
        try (VerifiedVersion a = first.readVerified(first.latest().orElseThrow()); VerifiedVersion b = second.readVerified(started)) {
            assertThat(b.manifest().files()).isEqualTo(a.manifest().files());
            assertThat(PolicyDirectory.loadTokenizer(b.dir())).isEqualTo(new CharTokenizer());
        }
    }
}
