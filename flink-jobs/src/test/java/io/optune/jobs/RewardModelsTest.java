package io.optune.jobs;

import ai.djl.ndarray.NDManager;
import io.optune.engine.PromptEncoder;
import io.optune.engine.checkpoint.CheckpointException;
import io.optune.engine.checkpoint.GenerationSettings;
import io.optune.engine.checkpoint.HfCheckpointWriter;
import io.optune.engine.checkpoint.LocalCheckpointFiles;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.reward.GoldRewardModel;
import io.optune.engine.reward.HfRewardModel;
import io.optune.engine.reward.NeuralRewardModel;
import io.optune.engine.reward.RewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.engine.checkpoint.LocalCheckpointFiles;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.jobs.OptuneOptions.RewardType;
import io.optune.operators.select.ScoreBasis;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class RewardModelsTest {
    private static final Path GPT2_TOKENIZER = Path.of("..", "operators", "src", "test", "resources", "hf", "tokenizers", "gpt2");

    private static Configuration conf(Map<String, String> values) {
        return Configuration.fromMap(values);
    }

    @Test
    void goldIsTheDefaultAndTheDeprecatedKeyStillWorks() {
        assertThat(conf(Map.of()).get(OptuneOptions.REWARD_TYPE)).isEqualTo(RewardType.GOLD);
        Configuration old = conf(Map.of("optune.score.reward-model", "CHECKPOINT"));
        assertThat(old.get(OptuneOptions.REWARD_TYPE)).isEqualTo(RewardType.CHECKPOINT);
        // The old key is not refused as unknown by the job's validation.
        JobConfig.validate(conf(Map.of("optune.score.reward-model", "GOLD")));
        assertThat(RewardModels.factory(conf(Map.of())).toString()).isNotNull();
    }

    @Test
    void halfConfiguredOrUnknownChoicesAreClearErrorsBeforeTheJobStarts() {
        assertThatThrownBy(() -> JobConfig.validate(conf(Map.of("optune.reward.type", "CHECKPOINT"))))
                .hasMessageContaining("optune.reward.type CHECKPOINT needs optune.reward.checkpoint");
        assertThatThrownBy(() -> JobConfig.validate(conf(Map.of("optune.reward.type", "NEURAL"))))
                .hasMessageContaining("optune.reward.type NEURAL needs optune.reward.neural.snapshot");
        assertThatThrownBy(() -> JobConfig.validate(conf(Map.of("optune.reward.type", "HTTP"))))
                .hasMessageContaining("optune.reward.type HTTP needs optune.reward.http.url");
        assertThatThrownBy(() -> JobConfig.validate(conf(Map.of("optune.reward.type", "BRADLEY"))))
                .hasMessageContaining("optune.reward.type");
        assertThatThrownBy(() -> JobConfig.validate(conf(Map.of("optune.reward.checkpoint", "/models/rm"))))
                .hasMessageContaining("optune.reward.checkpoint is set").hasMessageContaining("optune.reward.type is GOLD");
        assertThatThrownBy(() -> JobConfig.validate(conf(Map.of("optune.reward.type", "CHECKPOINT",
                "optune.reward.checkpoint", "/models/rm", "optune.reward.batch-size", "0"))))
                .hasMessageContaining("optune.reward.batch-size");
    }

    @Test
    void aCheckpointThatIsNotARewardModelIsRefusedWhenTheJobIsBuilt(@TempDir Path dir) {
        try (NDManager m = NDManager.newBaseManager(); TransformerLM lm = TransformerLM.create(ModelConfig.gpt2(60, 16, 16, 1, 2), m, 1, false)) {
            HfCheckpointWriter.write(lm, null, new LocalCheckpointFiles(dir), SafeTensorsStream.Dtype.F32);
        }
        Configuration c = conf(Map.of("optune.reward.type", "CHECKPOINT", "optune.reward.checkpoint", dir.toString()));
        assertThatThrownBy(() -> RewardModels.factory(c)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("is not a reward model").hasMessageContaining("GPT2LMHeadModel");
        Configuration none = conf(Map.of("optune.reward.type", "CHECKPOINT", "optune.reward.checkpoint", dir.resolve("nope").toString()));
        assertThatThrownBy(() -> RewardModels.factory(none)).hasMessageContaining("config.json");
    }

    @Test
    void aCheckpointRewardScoresWithTheTokenizerFromItsOwnDirectory(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager();
                TransformerLM rm = TransformerLM.create(ModelConfig.gpt2(50257, 64, 16, 1, 2), m, 2, true)) {
            HfCheckpointWriter.write(rm, new GenerationSettings(List.of(50256), 50256, null), new LocalCheckpointFiles(dir),
                    SafeTensorsStream.Dtype.F32);
        }
        Files.copy(GPT2_TOKENIZER.resolve("tokenizer.json.gz"), dir.resolve("tokenizer.json.gz"));
        // A file URI goes through Flink's file system, so the tokenizer is staged as from a remote store.
        Configuration c = conf(Map.of("optune.reward.type", "CHECKPOINT", "optune.reward.checkpoint", dir.toUri().toString(),
                "optune.reward.batch-size", "2"));
        RewardModel model = RewardModels.factory(c).create();
        try {
            assertThat(model).isInstanceOf(HfRewardModel.class);
            double[] s = model.score(RewardQuery.texts(List.of("Hello", "Hello", "Hi"), List.of(" world", " there", " you")));
            assertThat(java.util.Arrays.stream(s).allMatch(Double::isFinite)).as(java.util.Arrays.toString(s)).isTrue();
            assertThat(s[0]).isNotEqualTo(s[1]);
            assertThat(model.accepts()).contains("text prompts only");
        } finally {
            ((AutoCloseable) model).close();
        }
        // The device options reach the loader (this machine has no GPU, so asking for one is refused there, by name).
        Map<String, String> onGpu = new java.util.HashMap<>(c.toMap());
        onGpu.put("optune.engine.reward-device", "gpu:1");
        assertThatThrownBy(() -> RewardModels.factory(Configuration.fromMap(onGpu)).create())
                .hasMessageContaining("device 'gpu:1' asks for a GPU");
        Map<String, String> engineGpu = new java.util.HashMap<>(c.toMap());
        engineGpu.put("optune.engine.device", "gpu");
        assertThatThrownBy(() -> RewardModels.factory(Configuration.fromMap(engineGpu)).create())
                .hasMessageContaining("device 'gpu' asks for a GPU");
    }

    @Test
    void theNeuralRewardLoadsItsTrainedSnapshot(@TempDir Path dir) throws Exception {
        CharTokenizer tok = new CharTokenizer();
        List<RewardQuery> queries = RewardQuery.texts(List.of("rev abc=", "rev abc="), List.of("cba", "abc"));
        double[] expected;
        Path file = dir.resolve("bt-reward");
        try (NDManager m = NDManager.newBaseManager();
                NeuralRewardModel bt = new NeuralRewardModel(ModelConfig.tiny(tok.vocabSize()), new PromptEncoder(tok, 24), m, 5)) {
            expected = bt.score(queries);
            PolicyDirectory.write(bt.model(), tok, PolicyDirectory.TokenizerFiles.of(tok), SafeTensorsStream.Dtype.F32,
                    new LocalCheckpointFiles(file));
        }
        Configuration c = conf(Map.of("optune.reward.type", "NEURAL", "optune.reward.neural.snapshot", file.toString()));
        try (NeuralRewardModel loaded = (NeuralRewardModel) RewardModels.factory(c).create()) {
            double[] s = loaded.score(queries);
            assertThat(s[0]).isCloseTo(expected[0], within(1e-6));
            assertThat(s[1]).isCloseTo(expected[1], within(1e-6));
        }
        Configuration missing = conf(Map.of("optune.reward.type", "NEURAL", "optune.reward.neural.snapshot", dir.resolve("x").toString()));
        assertThatThrownBy(() -> RewardModels.factory(missing)).hasMessageContaining("does not exist");
    }

    @Test
    void learnedRewardsRankPromptsPerPromptNormalisedByDefault() {
        assertThat(RewardModels.scoreBasis(conf(Map.of()))).isEqualTo(ScoreBasis.RAW);
        for (String learned : List.of("NEURAL", "CHECKPOINT", "HTTP")) {
            assertThat(RewardModels.scoreBasis(conf(Map.of("optune.reward.type", learned))))
                    .as(learned).isEqualTo(ScoreBasis.PROMPT_NORMALISED);
        }
        // An explicit choice wins both ways.
        assertThat(RewardModels.scoreBasis(conf(Map.of("optune.reward.type", "CHECKPOINT", "optune.select.score-basis", "RAW"))))
                .isEqualTo(ScoreBasis.RAW);
        assertThat(RewardModels.scoreBasis(conf(Map.of("optune.select.score-basis", "PROMPT_NORMALISED"))))
                .isEqualTo(ScoreBasis.PROMPT_NORMALISED);
    }

    @Test
    void goldFactoryMakesTheVerifier() throws Exception {
        assertThat(RewardModels.factory(conf(Map.of())).create()).isInstanceOf(GoldRewardModel.class);
    }
}
