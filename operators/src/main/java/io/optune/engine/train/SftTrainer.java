package io.optune.engine.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.optune.engine.model.LogProbs;
import io.optune.engine.model.TransformerLM;

import java.util.List;

/** Supervised fine-tuning: mean negative log-likelihood of the response tokens given the prompt. */
public final class SftTrainer implements AutoCloseable {
    private final TransformerLM model;
    private final AdamW optimizer;

    public SftTrainer(TransformerLM model, AdamWConfig config) {
        this.model = model;
        this.optimizer = new AdamW(model, config);
        model.setTrainable(true);
    }

    /** One step; returns the mean per-token loss, or NaN when the step was skipped as non-finite. */
    public double step(List<int[]> prompts, List<int[]> responses) {
        long tokens = 0;
        for (int[] r : responses) {
            tokens += r.length;
        }
        try (NDManager m = model.manager().newSubManager()) {
            float count = Math.max(1, tokens);
            AdamW.Step step = optimizer.minimize(() -> LogProbs.sequenceLogProbs(model, m, prompts, responses).sum()
                    .neg().div(m.full(new Shape(), count)));
            return step.skipped() ? Double.NaN : step.loss();
        }
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
