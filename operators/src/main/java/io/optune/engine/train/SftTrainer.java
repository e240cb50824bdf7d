package io.optune.engine.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.optune.engine.GradMode;
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
        GradMode.off();
        long tokens = 0;
        for (int[] r : responses) {
            tokens += r.length;
        }
        try (NDManager m = model.manager().newSubManager()) {
            double loss;
            optimizer.zeroGradients();
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray sum = LogProbs.sequenceLogProbs(model, m, prompts, responses).sum();
                NDArray lossArr = sum.neg().div(m.full(new Shape(), (float) Math.max(1, tokens)));
                gc.backward(lossArr);
                loss = lossArr.getFloat();
            }
            double norm = optimizer.gradientNorm();
            if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
                return Double.NaN;
            }
            optimizer.update(norm);
            return loss;
        }
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
