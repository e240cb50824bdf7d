package io.optune.jobs;

import io.optune.connectors.checkpoint.FlinkCheckpointFiles;
import io.optune.engine.checkpoint.CheckpointException;
import io.optune.engine.checkpoint.HfCheckpoint;
import io.optune.engine.reward.GoldRewardModel;
import io.optune.engine.reward.HfRewardModel;
import io.optune.engine.reward.NeuralRewardModel;
import io.optune.engine.tokenizer.HfTokenizer;
import io.optune.jobs.OptuneOptions.RewardType;
import io.optune.operators.score.RewardModelFactory;
import io.optune.operators.select.ScoreBasis;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The one place that turns {@code optune.reward.*} into the score step's {@link RewardModelFactory}
 * and checks, before the job starts, that the chosen reward is completely configured (and that no
 * option of another reward is set by mistake).
 */
public final class RewardModels {
    private RewardModels() {}

    /** The options each reward type needs; options of the other types must not be set. */
    private static final Map<RewardType, List<ConfigOption<String>>> REQUIRED = Map.of(
            RewardType.GOLD, List.of(),
            RewardType.NEURAL, List.of(OptuneOptions.REWARD_NEURAL_SNAPSHOT),
            RewardType.CHECKPOINT, List.of(OptuneOptions.REWARD_CHECKPOINT),
            RewardType.HTTP, List.of(OptuneOptions.REWARD_HTTP_URL));

    /** Options that belong to one reward type only. */
    private static final Map<ConfigOption<String>, RewardType> OWNER = Map.of(
            OptuneOptions.REWARD_NEURAL_SNAPSHOT, RewardType.NEURAL,
            OptuneOptions.REWARD_CHECKPOINT, RewardType.CHECKPOINT,
            OptuneOptions.REWARD_TOKENIZER, RewardType.CHECKPOINT,
            OptuneOptions.REWARD_HTTP_URL, RewardType.HTTP);

    /**
     * Checks the reward choice from the configuration alone (no file access).
     *
     * @throws IllegalArgumentException naming what is missing or set for another reward type
     */
    public static void validate(ReadableConfig conf) {
        RewardType type = conf.get(OptuneOptions.REWARD_TYPE);
        List<String> missing = new ArrayList<>();
        for (ConfigOption<String> o : REQUIRED.get(type)) {
            if (conf.getOptional(o).filter(v -> !v.isBlank()).isEmpty()) {
                missing.add(o.key());
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("optune.reward.type " + type + " needs " + String.join(" and ", missing)
                    + " (" + describe(type) + ")");
        }
        for (Map.Entry<ConfigOption<String>, RewardType> e : OWNER.entrySet()) {
            if (e.getValue() != type && conf.getOptional(e.getKey()).isPresent()) {
                throw new IllegalArgumentException(e.getKey().key() + " is set, but it configures the " + e.getValue()
                        + " reward and optune.reward.type is " + type + ": set optune.reward.type " + e.getValue()
                        + " or remove " + e.getKey().key());
            }
        }
        if (conf.get(OptuneOptions.REWARD_BATCH_SIZE) < 1) {
            throw new IllegalArgumentException("optune.reward.batch-size must be >= 1, got " + conf.get(OptuneOptions.REWARD_BATCH_SIZE));
        }
    }

    private static String describe(RewardType type) {
        switch (type) {
            case NEURAL:
                return "a checkpoint directory holding a trained Bradley-Terry reward model";
            case HTTP:
                return "a remote reward service, docs/REWARD-HTTP.md";
            case CHECKPOINT:
                return "a Hugging Face *ForSequenceClassification checkpoint directory with num_labels 1";
            default:
                return type.name();
        }
    }

    /**
     * The factory the score step creates its reward model with. Validates first, and for a
     * checkpoint reads its {@code config.json} now, so a wrong directory fails before the job starts
     * rather than in every score subtask.
     */
    public static RewardModelFactory factory(ReadableConfig conf) {
        validate(conf);
        RewardType type = conf.get(OptuneOptions.REWARD_TYPE);
        switch (type) {
            case GOLD:
                return GoldRewardModel::new;
            case NEURAL: {
                String snapshot = conf.get(OptuneOptions.REWARD_NEURAL_SNAPSHOT);
                int maxPromptTokens = conf.get(OptuneOptions.MAX_PROMPT_TOKENS);
                checkExists(snapshot, OptuneOptions.REWARD_NEURAL_SNAPSHOT.key());
                String device = OptuneTopology.device(conf, OptuneOptions.REWARD_DEVICE);
                return () -> NeuralRewardModel.fromDirectory(java.nio.file.Path.of(new Path(snapshot).toUri().getPath()), maxPromptTokens,
                        device);
            }
            case CHECKPOINT: {
                String dir = conf.get(OptuneOptions.REWARD_CHECKPOINT);
                String tokenizer = conf.getOptional(OptuneOptions.REWARD_TOKENIZER).orElse(null);
                int batch = conf.get(OptuneOptions.REWARD_BATCH_SIZE);
                checkRewardCheckpoint(dir);
                return checkpoint(dir, tokenizer, batch, OptuneTopology.device(conf, OptuneOptions.REWARD_DEVICE));
            }
            case HTTP:
                throw new IllegalArgumentException("optune.reward.type HTTP scores through async I/O in the topology "
                        + "(OptuneTopology.scoreStep), not with an in-process reward model");
            default:
                throw new IllegalArgumentException("unsupported reward type " + type);
        }
    }

    /**
     * A factory for the in-job checkpoint reward.
     *
     * @param tokenizerDir a local tokenizer directory, or null for the checkpoint's own files
     * @param device the engine device ({@code cpu}, {@code gpu}, {@code gpu:N}), or null for the engine's default
     */
    public static RewardModelFactory checkpoint(String dir, String tokenizerDir, int batchSize, String device) {
        return () -> {
            FlinkCheckpointFiles files = FlinkCheckpointFiles.of(dir);
            java.nio.file.Path tok = tokenizerDir != null ? java.nio.file.Path.of(tokenizerDir) : HfRewardModel.stageTokenizer(files);
            return HfRewardModel.load(files, HfTokenizer.load(tok),
                    HfRewardModel.Settings.defaults().withBatchSize(batchSize).withDevice(device));
        };
    }

    /** Fails now, with the reason, when {@code dir} is not a one-label sequence classifier. */
    static void checkRewardCheckpoint(String dir) {
        FlinkCheckpointFiles files = FlinkCheckpointFiles.of(dir);
        var config = HfCheckpoint.readConfigJson(files);
        if (!HfCheckpoint.isRewardModel(config)) {
            throw new CheckpointException("optune.reward.checkpoint " + dir + " is not a reward model: its config.json names "
                    + config.path("architectures") + ", a reward checkpoint is a *ForSequenceClassification with num_labels 1");
        }
        int labels = HfCheckpoint.labelCount(config);
        if (labels != -1 && labels != 1) {
            throw new CheckpointException("optune.reward.checkpoint " + dir + " is a classifier with " + labels
                    + " labels; a reward model has num_labels 1");
        }
    }

    /**
     * The selection's score basis: as set, else per-prompt normalised for learned rewards and raw
     * for the gold verifier (see optune.select.score-basis for why).
     */
    public static ScoreBasis scoreBasis(ReadableConfig conf) {
        return conf.getOptional(OptuneOptions.SELECT_SCORE_BASIS).orElse(
                conf.get(OptuneOptions.REWARD_TYPE).learned() ? ScoreBasis.PROMPT_NORMALISED : ScoreBasis.RAW);
    }

    private static void checkExists(String file, String key) {
        Path p = new Path(file);
        try {
            if (!p.getFileSystem().exists(p)) {
                throw new IllegalArgumentException(key + " " + file + " does not exist");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check " + key + " " + file + ": " + e.getMessage(), e);
        }
    }
}
