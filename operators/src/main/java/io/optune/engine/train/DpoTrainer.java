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
import java.util.Map;

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
    private final LossScaler scaler;
    private long skippedSteps;
    private int refreshEvery;
    private double refreshAlpha = 1.0;

    /** Takes ownership of {@code policy}; the reference starts as a copy of it. */
    public DpoTrainer(TransformerLM policy, DpoConfig config) {
        this(policy, policy.copy(policy.manager()), config);
    }

    /**
     * Takes ownership of {@code policy} and {@code reference} (the frozen model the policy is kept
     * close to; same config).
     */
    public DpoTrainer(TransformerLM policy, TransformerLM reference, DpoConfig config) {
        if (!policy.config().equals(reference.config())) {
            throw new IllegalArgumentException("the reference model " + reference.config()
                    + " differs in shape from the policy " + policy.config());
        }
        this.policy = policy;
        this.config = config;
        this.reference = reference;
        reference.setTrainable(false);
        this.optimizer = new AdamW(policy, config.optimizer());
        policy.setTrainable(true);
        policy.setPrecision(config.precision());
        reference.setPrecision(config.precision());
        this.scaler = config.precision().isHalf() ? LossScaler.dynamic(LossScaler.INITIAL) : LossScaler.disabled();
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

    /** The loss scale of float16 training (1 in float32); the gradients it leaves are this many times the true ones. */
    public LossScaler lossScaler() {
        return scaler;
    }

    void setSkippedSteps(long n) {
        this.skippedSteps = n;
    }

    /** Makes the reference equal to the current policy. */
    public void refreshReference() {
        reference.copyFrom(policy);
    }

    /**
     * Moves the reference towards the policy, {@code ref = alpha * policy + (1 - alpha) * ref}
     * (TRL's {@code sync_ref_model} mix-up); {@code alpha = 1} copies it.
     */
    public void refreshReference(double alpha) {
        if (!(alpha > 0 && alpha <= 1)) {
            throw new IllegalArgumentException("reference mix-up alpha must be in (0, 1]: " + alpha);
        }
        if (alpha == 1.0) {
            refreshReference();
            return;
        }
        GradMode.off();
        Map<String, NDArray> pol = policy.parameters();
        for (Map.Entry<String, NDArray> e : reference.parameters().entrySet()) {
            NDArray p = pol.get(e.getKey());
            if (p != null) {
                try (NDArray detached = p.stopGradient(); NDArray delta = detached.sub(e.getValue())) {
                    e.getValue().addi(delta.muli((float) alpha)); // no graph here: plain scalars are safe
                }
            }
        }
    }

    /**
     * Refreshes the reference every {@code every} successful steps with weight {@code alpha} (0:
     * never, the default). Long runs otherwise drift ever further from a frozen start, and the DPO
     * log-ratio term keeps pulling them back to it.
     */
    public void setReferenceRefresh(int every, double alpha) {
        if (every < 0 || !(alpha > 0 && alpha <= 1)) {
            throw new IllegalArgumentException("reference refresh needs every >= 0 and alpha in (0, 1]: " + every + ", " + alpha);
        }
        this.refreshEvery = every;
        this.refreshAlpha = alpha;
    }

    /** The loss of a batch and what it was made of; the policy's gradients hold its gradient. */
    public record Evaluation(double loss, float[] margins, float[] logRatios) {}

    public StepResult step(List<PreferenceExample> batch) {
        Evaluation e = lossAndGradients(batch);
        AdamW.Step step = optimizer.finish(e.loss(), scaler.scale());
        // float16: gradients that overflowed at this loss scale are recomputed at half the scale
        // (PyTorch's GradScaler would drop the batch; here a batch is pairs the stream paid for).
        while (step.skipped() && Double.isFinite(step.loss()) && scaler.backOff()) {
            LOG.debug("float16 gradients overflowed at loss scale {}; retrying at {}", scaler.scale() * 2, scaler.scale());
            e = lossAndGradients(batch);
            step = optimizer.finish(e.loss(), scaler.scale());
        }
        int b = batch.size();
        double sum = 0;
        int correct = 0;
        for (float x : e.margins()) {
            sum += x;
            correct += x > 0 ? 1 : 0;
        }
        double logRatioMean = 0;
        for (float x : e.logRatios()) {
            logRatioMean += x;
        }
        double margin = sum / b;
        double accuracy = (double) correct / b;
        logRatioMean /= e.logRatios().length;
        if (!step.skipped()) {
            scaler.recordCleanStep();
        }
        if (step.skipped()) {
            skippedSteps++;
            LOG.warn("Skipping DPO step {}: loss={} gradNorm={} (skipped so far: {})",
                    optimizer.step() + 1, step.loss(), step.gradNorm(), skippedSteps);
            return new StepResult(optimizer.step(), step.loss(), margin, accuracy, logRatioMean, step.gradNorm(), 0f, true);
        }
        if (refreshEvery > 0 && optimizer.step() % refreshEvery == 0) {
            refreshReference(refreshAlpha);
        }
        return new StepResult(optimizer.step(), step.loss(), margin, accuracy, logRatioMean, step.gradNorm(),
                config.optimizer().learningRateAt(optimizer.step()), false);
    }

    /**
     * The weighted DPO loss of {@code batch} with its gradient (times {@link #lossScaler()}'s scale)
     * left in the policy's parameters (set, not added to), computed in micro-batches of {@link DpoConfig#microBatchPairs()} pairs whose
     * gradients add up to the whole batch's. Changes no weights.
     */
    public Evaluation lossAndGradients(List<PreferenceExample> batch) {
        if (batch.isEmpty()) {
            throw new IllegalArgumentException("empty training batch");
        }
        GradMode.off();
        int b = batch.size();
        double[] raw = new double[b];
        for (int i = 0; i < b; i++) {
            raw[i] = batch.get(i).weight();
        }
        float[] weights = PairWeighting.normalise(raw);
        int micro = config.microBatchPairs() > 0 ? Math.min(config.microBatchPairs(), b) : b;
        float[] margins = new float[b];
        float[] ratios = new float[2 * b];
        double loss = 0;
        optimizer.zeroGradients();
        for (int from = 0; from < b; from += micro) {
            int to = Math.min(b, from + micro);
            loss += accumulate(batch.subList(from, to), java.util.Arrays.copyOfRange(weights, from, to),
                    (float) (to - from) / b, from, margins, ratios, b);
        }
        return new Evaluation(loss / scaler.scale(), margins, ratios);
    }

    /** Forward and backward of one micro-batch; its loss is scaled by its share of the batch. */
    private double accumulate(List<PreferenceExample> part, float[] weights, float share, int offset,
            float[] margins, float[] ratios, int total) {
        int n = part.size();
        List<int[]> prompts = new ArrayList<>(2 * n);
        List<int[]> responses = new ArrayList<>(2 * n);
        float[] chosenLengths = new float[n];
        for (PreferenceExample e : part) {
            prompts.add(e.prompt());
            responses.add(e.chosen());
        }
        for (int i = 0; i < n; i++) {
            PreferenceExample e = part.get(i);
            prompts.add(e.prompt());
            responses.add(e.rejected());
            chosenLengths[i] = Math.max(1, e.chosen().length);
        }
        try (NDManager m = policy.manager().newSubManager()) {
            NDArray refLogps = m.create(LogProbs.sequenceLogProbsNoGrad(reference, m, prompts, responses));
            NDArray w = m.create(weights);
            NDArray[] kept = new NDArray[2]; // the margins and log-ratios, for metrics
            double value = optimizer.accumulate(() -> {
                NDArray logps = LogProbs.sequenceLogProbs(policy, m, prompts, responses);
                NDArray ratio = logps.sub(refLogps); // (2n): chosen then rejected
                NDArray h = ratio.get("0:{}", n).sub(ratio.get("{}:", n));
                NDArray perPair = DpoLoss.perPair(h, config.loss(), config.beta());
                if (config.nllWeight() > 0) {
                    NDArray nll = logps.get("0:{}", n).neg().div(m.create(chosenLengths));
                    perPair = perPair.add(nll.mul(m.full(new ai.djl.ndarray.types.Shape(), config.nllWeight())));
                }
                kept[0] = h;
                kept[1] = ratio;
                NDArray l = DpoLoss.weightedMean(perPair, w);
                float factor = share * scaler.scale();
                return factor == 1f ? l : l.mul(m.full(new ai.djl.ndarray.types.Shape(), factor));
            });
            float[] hs = kept[0].toFloatArray();
            float[] rs = kept[1].toFloatArray();
            System.arraycopy(hs, 0, margins, offset, n);
            System.arraycopy(rs, 0, ratios, offset, n);
            System.arraycopy(rs, n, ratios, total + offset, n);
            return value;
        }
    }

    @Override
    public void close() {
        optimizer.close();
        reference.close();
        policy.close();
    }
}
