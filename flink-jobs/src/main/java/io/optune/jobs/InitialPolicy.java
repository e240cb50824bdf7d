package io.optune.jobs;

import ai.djl.ndarray.NDManager;
import io.optune.engine.PromptEncoder;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.snapshot.PolicySnapshot;
import io.optune.engine.task.BuiltinTask;
import io.optune.engine.task.Evaluator;
import io.optune.engine.task.NoisyDemonstrations;
import io.optune.engine.task.SftWarmStart;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.configuration.ReadableConfig;

import java.io.IOException;
import java.util.Optional;
import java.util.function.Consumer;

/** Makes sure the weight log holds a policy before the job starts: version 0 from the SFT warm start. */
public final class InitialPolicy {
    private InitialPolicy() {}

    /** Returns the newest existing version, or trains and publishes version 0 for the built-in task. */
    public static PolicyUpdate ensure(ReadableConfig conf, WeightLog log, Consumer<String> progress) throws IOException {
        Optional<PolicyUpdate> latest = log.latest();
        if (latest.isPresent()) {
            progress.accept("weight log already holds policy version " + latest.get().version() + "; continuing from it");
            return latest.get();
        }
        if (conf.get(OptuneOptions.REWARD_TYPE) != OptuneOptions.RewardType.GOLD) {
            // The SFT warm start knows only the built-in task, the one the gold verifier scores (its
            // prompts may arrive from any source); other tasks bring their own initial policy.
            throw new IllegalStateException("the weight log at " + conf.getOptional(OptuneOptions.WEIGHTS_PATH).orElse("(run dir)")
                    + " is empty: publish an initial policy snapshot (version 0) first");
        }
        CharTokenizer tokenizer = new CharTokenizer();
        PromptEncoder encoder = new PromptEncoder(tokenizer, conf.get(OptuneOptions.MAX_PROMPT_TOKENS));
        long seed = conf.get(OptuneOptions.SEED);
        try (NDManager manager = NDManager.newBaseManager()) {
            long t0 = System.nanoTime();
            progress.accept("SFT warm start: " + conf.get(OptuneOptions.SFT_STEPS) + " steps on noisy demonstrations");
            TransformerLM policy = SftWarmStart.train(ModelConfig.tiny(tokenizer.vocabSize()), encoder, manager,
                    new SftWarmStart.Config(conf.get(OptuneOptions.SFT_STEPS), 32, 3e-3f, seed), new NoisyDemonstrations(),
                    progress);
            double heldOut = Double.NaN;
            if (conf.get(OptuneOptions.HELD_OUT_SIZE) > 0) {
                heldOut = new Evaluator(BuiltinTask.heldOut(conf.get(OptuneOptions.HELD_OUT_SIZE), seed), encoder,
                        conf.get(OptuneOptions.MAX_NEW_TOKENS)).evaluate(policy, manager).meanReward();
            }
            byte[] snapshot = PolicySnapshot.encode(policy, tokenizer, 0, 0);
            PolicyUpdate v0 = log.publish(new PolicyUpdate(0, 0, null, null, System.currentTimeMillis(), Double.NaN,
                    Double.NaN, Double.NaN, Double.NaN, 0, heldOut), snapshot);
            progress.accept(String.format("published SFT policy as version 0 (held-out gold reward %.3f, %.0fs)", heldOut,
                    (System.nanoTime() - t0) / 1e9));
            policy.close();
            return v0;
        }
    }
}
