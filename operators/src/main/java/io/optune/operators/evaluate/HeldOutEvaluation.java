package io.optune.operators.evaluate;

import ai.djl.ndarray.NDManager;
import io.optune.engine.PromptEncoder;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.task.BuiltinTask;
import io.optune.engine.task.Evaluator;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.weights.WeightLog;

import java.io.IOException;
import java.io.Serializable;

/**
 * The built-in task's held-out evaluation of one published version: read from the weight log
 * (verified, as every consumer reads), greedy decoding on a fixed held-out set, mean gold reward.
 * Used by the evaluate step of the job and by the embedded driver and the benchmark after a run;
 * never by the trainer, which must not wait for it.
 *
 * @param size held-out prompts (the set is a function of {@code seed} and {@code maxOperand} alone)
 * @param device where the version is loaded and decoded (cpu, gpu, gpu:N): the generators' device
 */
public record HeldOutEvaluation(WeightLog weightLog, int size, long seed, int maxOperand, int maxPromptTokens, int maxNewTokens,
        String device) implements Serializable {

    public HeldOutEvaluation {
        if (size < 1) {
            throw new IllegalArgumentException("held-out size must be >= 1: " + size);
        }
        device = io.optune.engine.EngineDevice.checkSpec(device);
    }

    /** On the CPU. */
    public HeldOutEvaluation(WeightLog weightLog, int size, long seed, int maxOperand, int maxPromptTokens, int maxNewTokens) {
        this(weightLog, size, seed, maxOperand, maxPromptTokens, maxNewTokens, "cpu");
    }

    /**
     * The held-out reward of {@code version}; NaN when the version was pruned from the log before it
     * could be read (newer versions exist: a follower that fell behind skips it).
     *
     * @throws IOException when the version is announced but cannot be read, or fails verification
     */
    public double evaluate(PolicyUpdate version) throws IOException {
        try (VerifiedVersion files = weightLog.readVerified(version); NDManager manager = NDManager.newBaseManager(
                io.optune.engine.EngineDevice.parse(device))) {
            PolicyDirectory.Loaded loaded = PolicyDirectory.load(files.dir(), manager);
            try {
                return new Evaluator(BuiltinTask.heldOut(size, seed, maxOperand), new PromptEncoder(loaded.tokenizer(), maxPromptTokens),
                        maxNewTokens).evaluate(loaded.model(), manager).meanReward();
            } finally {
                loaded.model().close();
            }
        } catch (IOException e) {
            if (!weightLog.isRetained(version)) {
                return Double.NaN;
            }
            throw e;
        }
    }
}
