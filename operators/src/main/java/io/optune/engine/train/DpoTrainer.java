package io.optune.engine.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.optune.engine.GradMode;
import io.optune.engine.model.LogProbs;
import io.optune.engine.model.TransformerLM;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Weighted DPO against a frozen reference copy of the policy. One {@link #step} = reference
 * log-probs (no graph), policy log-probs, {@link DpoLoss}, backward, non-finite guard, clipping,
 * {@link AdamW}. Its whole state (policy, reference, moments, step, skip count) round-trips through
 * {@link TrainerState}.
 */
public final class DpoTrainer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DpoTrainer.class);

    private final TransformerLM policy;
    private final TransformerLM reference;
    private final DpoConfig config;
    private final AdamW optimizer;
    private long skippedSteps;

    /** Takes ownership of {@code policy}; the reference starts as a copy of it. */
    public DpoTrainer(TransformerLM policy, DpoConfig config) {
        this.policy = policy;
        this.config = config;
        this.reference = policy.copy(policy.manager());
        this.optimizer = new AdamW(policy, config.optimizer());
        policy.setTrainable(true);
    }

    public TransformerLM policy() {
        return policy;
    }

    public TransformerLM reference() {
        return reference;
    }

    public DpoConfig config() {
        return config;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    public long step() {
        return optimizer.step();
    }

    public long skippedSteps() {
        return skippedSteps;
    }

    void setSkippedSteps(long n) {
        this.skippedSteps = n;
    }

    /** Makes the reference equal to the current policy. */
    public void refreshReference() {
        reference.copyFrom(policy);
    }

    public StepResult step(List<PreferenceExample> batch) {
        if (batch.isEmpty()) {
            throw new IllegalArgumentException("empty training batch");
        }
        GradMode.off();
        int b = batch.size();
        List<int[]> prompts = new ArrayList<>(2 * b);
        List<int[]> responses = new ArrayList<>(2 * b);
        double[] raw = new double[b];
        float[] chosenLengths = new float[b];
        for (int i = 0; i < b; i++) {
            PreferenceExample e = batch.get(i);
            prompts.add(e.prompt());
            responses.add(e.chosen());
            chosenLengths[i] = Math.max(1, e.chosen().length);
        }
        for (int i = 0; i < b; i++) {
            prompts.add(batch.get(i).prompt());
            responses.add(batch.get(i).rejected());
            raw[i] = batch.get(i).weight();
        }
        float[] weights = PairWeighting.normalise(raw);
        try (NDManager m = policy.manager().newSubManager()) {
            NDArray refLogps = m.create(LogProbs.sequenceLogProbsNoGrad(reference, m, prompts, responses));
            NDArray w = m.create(weights);
            NDArray[] kept = new NDArray[2]; // the margins and log-ratios, for metrics
            AdamW.Step step = optimizer.minimize(() -> {
                NDArray logps = LogProbs.sequenceLogProbs(policy, m, prompts, responses);
                NDArray ratio = logps.sub(refLogps); // (2B): chosen then rejected
                NDArray h = ratio.get("0:{}", b).sub(ratio.get("{}:", b));
                NDArray perPair = DpoLoss.perPair(h, config.loss(), config.beta());
                if (config.nllWeight() > 0) {
                    NDArray nll = logps.get("0:{}", b).neg().div(m.create(chosenLengths));
                    perPair = perPair.add(nll.mul(m.full(new ai.djl.ndarray.types.Shape(), config.nllWeight())));
                }
                kept[0] = h;
                kept[1] = ratio;
                return DpoLoss.weightedMean(perPair, w);
            });
            float[] hs = kept[0].toFloatArray();
            float[] rs = kept[1].toFloatArray();
            double sum = 0;
            int correct = 0;
            for (float x : hs) {
                sum += x;
                correct += x > 0 ? 1 : 0;
            }
            double logRatioMean = 0;
            for (float x : rs) {
                logRatioMean += x;
            }
            double margin = sum / b;
            double accuracy = (double) correct / b;
            logRatioMean /= rs.length;
            if (step.skipped()) {
                skippedSteps++;
                LOG.warn("Skipping DPO step {}: loss={} gradNorm={} (skipped so far: {})",
                        optimizer.step() + 1, step.loss(), step.gradNorm(), skippedSteps);
                return new StepResult(optimizer.step(), step.loss(), margin, accuracy, logRatioMean, step.gradNorm(), 0f, true);
            }
            return new StepResult(optimizer.step(), step.loss(), margin, accuracy, logRatioMean, step.gradNorm(),
                    config.optimizer().learningRateAt(optimizer.step()), false);
        }
    }

    @Override
    public void close() {
        optimizer.close();
        reference.close();
        policy.close();
    }
}
