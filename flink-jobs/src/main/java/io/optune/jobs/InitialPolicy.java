package io.optune.jobs;

import ai.djl.ndarray.NDManager;
import io.optune.connectors.checkpoint.FlinkCheckpointFiles;
import io.optune.engine.PromptEncoder;
import io.optune.engine.checkpoint.CheckpointException;
import io.optune.engine.checkpoint.HfCheckpoint;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.task.BuiltinTask;
import io.optune.engine.task.Evaluator;
import io.optune.engine.task.NoisyDemonstrations;
import io.optune.engine.task.SftWarmStart;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.engine.tokenizer.Tokenizer;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.fs.FileSystem;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Makes sure the weight log holds a policy before the job starts. Version 0 is
 * {@code optune.policy.checkpoint} (a Hugging Face checkpoint directory on any Flink file system)
 * when set, else the built-in task's SFT warm start; both are published the same way, as a Hugging
 * Face checkpoint directory with tokenizer files ({@link PolicyDirectory}).
 */
public final class InitialPolicy {
    private InitialPolicy() {}

    /** Returns the newest existing version, or publishes version 0. */
    public static PolicyUpdate ensure(ReadableConfig conf, WeightLog log, Consumer<String> progress) throws IOException {
        Optional<PolicyUpdate> latest = log.latest();
        checkReference(conf);
        if (latest.isPresent()) {
            progress.accept("weight log already holds policy version " + latest.get().version() + "; continuing from it");
            return latest.get();
        }
        Optional<String> checkpoint = conf.getOptional(OptuneOptions.POLICY_CHECKPOINT);
        if (checkpoint.isPresent()) {
            return publishCheckpoint(conf, log, checkpoint.get(), progress);
        }
        if (conf.get(OptuneOptions.REWARD_TYPE) != OptuneOptions.RewardType.GOLD) {
            // The SFT warm start knows only the built-in task, the one the gold verifier scores (its
            // prompts may arrive from any source); other tasks bring their own initial policy.
            throw new IllegalStateException("the weight log at " + conf.getOptional(OptuneOptions.WEIGHTS_PATH).orElse("(run dir)")
                    + " is empty: name the initial policy with --" + OptuneOptions.POLICY_CHECKPOINT.key() + " DIR");
        }
        CharTokenizer tokenizer = new CharTokenizer();
        PromptEncoder encoder = new PromptEncoder(tokenizer, conf.get(OptuneOptions.MAX_PROMPT_TOKENS));
        long seed = conf.get(OptuneOptions.SEED);
        try (NDManager manager = NDManager.newBaseManager()) {
            long t0 = System.nanoTime();
            progress.accept("SFT warm start: " + conf.get(OptuneOptions.SFT_STEPS) + " steps on noisy demonstrations");
            TransformerLM policy = SftWarmStart.train(ModelConfig.tiny(tokenizer.vocabSize()), encoder, manager,
                    new SftWarmStart.Config(conf.get(OptuneOptions.SFT_STEPS), 32, 3e-3f, seed, conf.get(OptuneOptions.BUILTIN_MAX_OPERAND)), new NoisyDemonstrations(),
                    progress);
            double heldOut = Double.NaN;
            if (conf.get(OptuneOptions.HELD_OUT_SIZE) > 0) {
                heldOut = new Evaluator(BuiltinTask.heldOut(conf.get(OptuneOptions.HELD_OUT_SIZE), seed, conf.get(OptuneOptions.BUILTIN_MAX_OPERAND)), encoder,
                        conf.get(OptuneOptions.MAX_NEW_TOKENS)).evaluate(policy, manager).meanReward();
            }
            PolicyUpdate v0 = publish(conf, log, policy, tokenizer, PolicyDirectory.TokenizerFiles.of(tokenizer), heldOut);
            progress.accept(String.format("published SFT policy as version 0 (held-out gold reward %.3f, %.0fs)", heldOut,
                    (System.nanoTime() - t0) / 1e9));
            policy.close();
            return v0;
        }
    }

    private static PolicyUpdate publish(ReadableConfig conf, WeightLog log, TransformerLM policy, Tokenizer tokenizer,
            PolicyDirectory.TokenizerFiles files, double heldOut) throws IOException {
        SafeTensorsStream.Dtype dtype = conf.get(OptuneOptions.WEIGHTS_DTYPE).stored();
        return log.publish(new PolicyUpdate(0, 0, null, null, System.currentTimeMillis(), Double.NaN,
                Double.NaN, Double.NaN, Double.NaN, 0, heldOut), dir -> PolicyDirectory.write(policy, tokenizer, files, dtype, dir));
    }

    /** Loads, checks and publishes {@code optune.policy.checkpoint} as version 0. */
    static PolicyUpdate publishCheckpoint(ReadableConfig conf, WeightLog log, String dir, Consumer<String> progress)
            throws IOException {
        String option = "--" + OptuneOptions.POLICY_CHECKPOINT.key() + " " + dir;
        long t0 = System.nanoTime();
        FlinkCheckpointFiles files = requireCheckpoint(dir, option);
        Path tokenizerDir = localTokenizerDir(dir);
        try (NDManager manager = NDManager.newBaseManager()) {
            Tokenizer tokenizer;
            PolicyDirectory.TokenizerFiles tokenizerFiles;
            try {
                tokenizer = PolicyDirectory.loadTokenizer(tokenizerDir);
                tokenizerFiles = PolicyDirectory.tokenizerFiles(tokenizerDir, tokenizer);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(option + ": " + e.getMessage(), e);
            }
            ModelConfig config;
            try {
                config = HfCheckpoint.readConfig(files);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(option + ": " + e.getMessage(), e);
            }
            checkFits(conf, config, tokenizer, option);
            progress.accept("loading the policy checkpoint " + dir + " (" + config.family().modelType() + ", vocab "
                    + config.vocabSize() + ", context " + config.contextLength() + ")");
            TransformerLM model;
            try {
                model = HfCheckpoint.load(files, manager).model();
            } catch (CheckpointException e) {
                throw new IllegalArgumentException(option + ": " + e.getMessage(), e);
            }
            try {
                PolicyUpdate v0 = publish(conf, log, model, tokenizer, tokenizerFiles, Double.NaN);
                progress.accept(String.format("published %s as policy version 0 (%s, %.0fs)", dir,
                        conf.get(OptuneOptions.WEIGHTS_DTYPE).name().toLowerCase(java.util.Locale.ROOT),
                        (System.nanoTime() - t0) / 1e9));
                return v0;
            } finally {
                model.close();
            }
        } finally {
            if (!tokenizerDir.toString().equals(localPath(dir))) {
                deleteTree(tokenizerDir);
            }
        }
    }

    /** The checkpoint must fit the job: its tokenizer in the vocabulary, the longest prompt and response in the context. */
    static void checkFits(ReadableConfig conf, ModelConfig config, Tokenizer tokenizer, String option) {
        if (tokenizer.vocabSize() > config.vocabSize()) {
            throw new IllegalArgumentException(option + ": the tokenizer has " + tokenizer.vocabSize()
                    + " ids, more than the model's vocabulary of " + config.vocabSize() + " (wrong tokenizer files?)");
        }
        int need = conf.get(OptuneOptions.MAX_PROMPT_TOKENS) + conf.get(OptuneOptions.MAX_NEW_TOKENS) + 1;
        if (need > config.contextLength()) {
            throw new IllegalArgumentException(option + ": the model's context of " + config.contextLength()
                    + " tokens is shorter than " + OptuneOptions.MAX_PROMPT_TOKENS.key() + " + "
                    + OptuneOptions.MAX_NEW_TOKENS.key() + " + EOS = " + need);
        }
    }

    /** Fails clearly when {@code optune.reference.checkpoint} is set but not a checkpoint directory. */
    static void checkReference(ReadableConfig conf) throws IOException {
        Optional<String> ref = conf.getOptional(OptuneOptions.REFERENCE_CHECKPOINT);
        if (ref.isPresent()) {
            String option = "--" + OptuneOptions.REFERENCE_CHECKPOINT.key() + " " + ref.get();
            FlinkCheckpointFiles files = requireCheckpoint(ref.get(), option);
            try {
                HfCheckpoint.readConfig(files);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(option + ": " + e.getMessage(), e);
            }
        }
    }

    private static FlinkCheckpointFiles requireCheckpoint(String dir, String option) throws IOException {
        org.apache.flink.core.fs.Path p = new org.apache.flink.core.fs.Path(dir);
        FileSystem fs = p.getFileSystem();
        if (!fs.exists(p) || !fs.getFileStatus(p).isDir()) {
            throw new IllegalArgumentException(option + ": no such directory");
        }
        FlinkCheckpointFiles files = new FlinkCheckpointFiles(p);
        if (!files.exists(HfCheckpoint.CONFIG)) {
            throw new IllegalArgumentException(option + ": no config.json (expected a Hugging Face checkpoint directory)");
        }
        return files;
    }

    /** The local path of a file:// (or scheme-less) directory, else null. */
    private static String localPath(String dir) {
        java.net.URI uri = new org.apache.flink.core.fs.Path(dir).toUri();
        if (uri.getScheme() == null || uri.getScheme().equals("file")) {
            return Path.of(uri.getPath()).toString();
        }
        return null;
    }

    /** The tokenizer files as a local directory: the checkpoint itself when local, else a copy in a temp dir. */
    private static Path localTokenizerDir(String dir) throws IOException {
        String local = localPath(dir);
        if (local != null) {
            return Path.of(local);
        }
        Path tmp = Files.createTempDirectory("optune-tokenizer-");
        FlinkCheckpointFiles files = FlinkCheckpointFiles.of(dir);
        List<String> names = new ArrayList<>(PolicyDirectory.TOKENIZER_FILES);
        names.add("tokenizer.json.gz");
        names.add(HfCheckpoint.GENERATION);
        for (String name : names) {
            if (files.exists(name)) {
                try (InputStream in = files.open(name)) {
                    Files.copy(in, tmp.resolve(name));
                }
            }
        }
        return tmp;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk.sorted(java.util.Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }
}
