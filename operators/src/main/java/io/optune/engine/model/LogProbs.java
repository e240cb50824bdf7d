package io.optune.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.List;

/** Sums of response-token log-probabilities given the prompt, for a batch of sequences. */
public final class LogProbs {
    private LogProbs() {}

    /**
     * log pi(response | prompt) per row, shape (B). Carries gradients when the model's parameters
     * are trainable and a gradient collector is open. Padding contributes nothing.
     */
    public static NDArray sequenceLogProbs(
            TransformerLM model, NDManager m, List<int[]> prompts, List<int[]> responses) {
        Batches.Scoring s = Batches.scoring(m, prompts, responses, model.config().contextLength());
        NDArray hidden = model.hidden(s.inputs(), s.positions(), s.bias(), null);
        NDArray targets = s.targets();
        NDArray mask = s.responseMask();
        // Positions before the shortest prompt's last token predict prompt tokens only (mask 0):
        // the LM head, the largest matmul with a large vocabulary, skips them (same sums).
        int first = Integer.MAX_VALUE;
        for (int[] p : prompts) {
            first = Math.min(first, p.length - 1);
        }
        if (first > 0) {
            hidden = hidden.get(":, {}:, :", first);
            targets = targets.get(":, {}:", first);
            mask = mask.get(":, {}:", first);
        }
        NDArray logp = model.logits(hidden).logSoftmax(-1);
        NDArray picked = logp.gather(targets.expandDims(-1), -1).squeeze(-1);
        return picked.mul(mask).sum(new int[] {1});
    }

    /** Same as {@link #sequenceLogProbs} but without building a graph; returns plain floats. */
    public static float[] sequenceLogProbsNoGrad(
            TransformerLM model, NDManager parent, List<int[]> prompts, List<int[]> responses) {
        io.optune.engine.GradMode.off();
        try (NDManager m = parent.newSubManager()) {
            return sequenceLogProbs(model, m, prompts, responses).toFloatArray();
        }
    }
}
