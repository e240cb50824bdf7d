package io.optune.engine.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.optune.engine.GradMode;
import io.optune.engine.InvalidInputException;
import io.optune.engine.Rng;
import io.optune.engine.model.Batches;
import io.optune.engine.model.KvCache;
import io.optune.engine.model.TransformerLM;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Batched sampling with a KV cache: one forward over the (left-padded) prompts, then one token per
 * step for all rows, attending to the cached keys and values. Sampling itself (temperature, top-p,
 * Gumbel-free categorical draw) runs in Java over the last logits with a seeded {@link Rng}, which
 * keeps results reproducible and avoids multinomial ops the PyTorch engine lacks.
 */
public final class Generator {
    private final TransformerLM model;
    private final int eosId;
    private final int padId;

    public Generator(TransformerLM model, int eosId, int padId) {
        this.model = model;
        this.eosId = eosId;
        this.padId = padId;
    }

    /** K = {@code cfg.samplesPerPrompt()} completions per prompt, prompt-major. */
    public List<Completion> generate(NDManager parent, List<int[]> prompts, SamplingConfig cfg, Rng rng) {
        return generate(parent, prompts, cfg, rng, null);
    }

    /**
     * As {@link #generate(NDManager, List, SamplingConfig, Rng)}; when {@code logitsTrace} is not
     * null, the (rows x vocab) logits that each sampled token was drawn from are appended to it.
     */
    public List<Completion> generate(
            NDManager parent, List<int[]> prompts, SamplingConfig cfg, Rng rng, List<float[]> logitsTrace) {
        GradMode.off();
        int k = cfg.samplesPerPrompt();
        List<int[]> rows = new ArrayList<>(prompts.size() * k);
        for (int[] p : prompts) {
            for (int s = 0; s < k; s++) {
                rows.add(p);
            }
        }
        int n = rows.size();
        if (n == 0) {
            return List.of();
        }
        int vocab = model.config().vocabSize();
        int[][] out = new int[n][];
        int[] lengths = new int[n];
        boolean[] done = new boolean[n];
        try (NDManager gen = parent.newSubManager(model.device())) {
            NDManager prefillManager = gen.newSubManager();
            Batches.Prefill pre = Batches.prefill(prefillManager, rows);
            // Leave room for an EOS even when the length limit cuts a response: prompt + response + EOS
            // must fit the context when the pair is scored for training.
            int maxNew = Math.min(cfg.maxNewTokens(), model.config().contextLength() - pre.width() - 1);
            if (maxNew < 1) {
                prefillManager.close();
                throw new InvalidInputException(
                        "prompt-too-long",
                        "a prompt of " + pre.width() + " tokens leaves no room in the context of "
                                + model.config().contextLength());
            }
            for (int i = 0; i < n; i++) {
                out[i] = new int[maxNew];
            }
            int[] promptLen = new int[n];
            for (int i = 0; i < n; i++) {
                promptLen[i] = rows.get(i).length;
            }
            KvCache cache = new KvCache(model.config().layers());
            float[] logits;
            try (NDManager step = prefillManager) { // prefill activations are freed before decoding
                NDArray h = model.hidden(pre.tokens(), pre.positions(), pre.bias(), cache);
                logits = lastLogits(h);
                cache.attach(gen);
            }
            for (int s = 0; s < maxNew; s++) {
                if (logitsTrace != null) {
                    logitsTrace.add(logits);
                }
                long[] next = new long[n];
                long[] pos = new long[n];
                boolean all = true;
                for (int i = 0; i < n; i++) {
                    int tok;
                    if (done[i]) {
                        tok = padId;
                    } else {
                        tok = sample(logits, i * vocab, vocab, cfg, rng);
                        out[i][lengths[i]++] = tok;
                        if (tok == eosId) {
                            done[i] = true;
                        }
                    }
                    all &= done[i];
                    next[i] = tok;
                    pos[i] = Math.min(promptLen[i] + s, model.config().contextLength() - 1);
                }
                if (all || s == maxNew - 1) {
                    break;
                }
                try (NDManager step = gen.newSubManager()) {
                    NDArray tokens = step.create(next, new Shape(n, 1));
                    NDArray positions = step.create(pos, new Shape(n, 1));
                    NDArray bias = Batches.decodeBias(step, pre.padding(), pre.width() + s + 1);
                    NDArray h = model.hidden(tokens, positions, bias, cache);
                    logits = lastLogits(h);
                    cache.attach(gen);
                }
            }
        }
        List<Completion> result = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            result.add(new Completion(i / k, Arrays.copyOf(out[i], lengths[i]), done[i]));
        }
        return result;
    }

    private float[] lastLogits(NDArray hidden) {
        long t = hidden.getShape().get(1);
        NDArray last = hidden.get(":, {}:, :", t - 1);
        return model.logits(last).toFloatArray();
    }

    /** Draws one token id from row logits[offset .. offset+vocab). */
    static int sample(float[] logits, int offset, int vocab, SamplingConfig cfg, Rng rng) {
        if (cfg.temperature() == 0f) {
            int best = 0;
            for (int j = 1; j < vocab; j++) {
                if (logits[offset + j] > logits[offset + best]) {
                    best = j;
                }
            }
            return best;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < vocab; j++) {
            max = Math.max(max, logits[offset + j]);
        }
        double[] p = new double[vocab];
        double z = 0;
        for (int j = 0; j < vocab; j++) {
            p[j] = Math.exp((logits[offset + j] - max) / cfg.temperature());
            z += p[j];
        }
        if (!(z > 0) || Double.isNaN(z)) {
            throw new IllegalStateException("non-finite logits while sampling");
        }
        double u = rng.nextDouble();
        if (cfg.topP() >= 1f) {
            double acc = 0;
            for (int j = 0; j < vocab; j++) {
                acc += p[j] / z;
                if (u < acc) {
                    return j;
                }
            }
            return vocab - 1;
        }
        Integer[] order = new Integer[vocab];
        for (int j = 0; j < vocab; j++) {
            order[j] = j;
        }
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        double kept = 0;
        int cut = 0;
        while (cut < vocab) {
            kept += p[order[cut]] / z;
            cut++;
            if (kept >= cfg.topP()) {
                break;
            }
        }
        double target = u * kept;
        double acc = 0;
        for (int j = 0; j < cut; j++) {
            acc += p[order[j]] / z;
            if (target < acc) {
                return order[j];
            }
        }
        return order[cut - 1];
    }
}
