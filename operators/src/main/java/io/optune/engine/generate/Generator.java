package io.optune.engine.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
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
 * step for all rows, attending to the cached keys and values. Sampling (temperature, top-p, a
 * categorical draw by inverting the cumulative distribution at a uniform from the seeded
 * {@link Rng}) runs on the engine, so only the drawn ids come back to Java; results stay
 * reproducible and no multinomial op (which the PyTorch engine lacks) is needed.
 */
public final class Generator {
    /**
     * Up to this vocabulary the logits are sampled in Java (a few engine ops cost more than copying
     * a small row); above it only the drawn ids leave the engine.
     */
    static final int JAVA_SAMPLING_MAX_VOCAB = 4096;
    /** Tokens searched for the top-p nucleus before the whole vocabulary is sorted. */
    static final int TOP_P_CANDIDATES = 256;

    private final TransformerLM model;
    private final int[] eosIds;
    private final int padId;
    /** Values copied from the engine to Java so far (logits or drawn ids), for the transfer tests. */
    private long hostValues;

    /**
     * @param eosIds every id that ends a response (a chat model's end-of-turn and end-of-text, for
     *     example); empty to generate to the length limit
     */
    public Generator(TransformerLM model, int[] eosIds, int padId) {
        this.model = model;
        this.eosIds = eosIds.clone();
        this.padId = padId;
    }

    /** Stops at any of the tokenizer's EOS ids. */
    public Generator(TransformerLM model, io.optune.engine.tokenizer.Tokenizer tokenizer) {
        this(model, tokenizer.eosIds(), tokenizer.padId());
    }

    private boolean isEos(int id) {
        for (int e : eosIds) {
            if (e == id) {
                return true;
            }
        }
        return false;
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
        float[][] logProbs = new float[n][];
        int[] lengths = new int[n];
        boolean[] done = new boolean[n];
        try (NDManager gen = parent.newSubManager(model.device())) {
            NDManager prefillManager = gen.newSubManager();
            Batches.Prefill pre = Batches.prefill(prefillManager, rows);
            // Prompt + response (its EOS included, when one is sampled) must fit the context when the
            // pair is trained; a response cut by the limit is trained as cut, so no room for more.
            int maxNew = Math.min(cfg.maxNewTokens(), model.config().contextLength() - pre.width());
            if (maxNew < 1) {
                prefillManager.close();
                throw new InvalidInputException(
                        "prompt-too-long",
                        "a prompt of " + pre.width() + " tokens leaves no room in the context of "
                                + model.config().contextLength());
            }
            for (int i = 0; i < n; i++) {
                out[i] = new int[maxNew];
                logProbs[i] = new float[maxNew];
            }
            int[] promptLen = new int[n];
            for (int i = 0; i < n; i++) {
                promptLen[i] = rows.get(i).length;
            }
            // Preallocated for the prompt and every new token, written in place (no copy per step).
            KvCache cache = new KvCache(model.config().layers(), pre.width() + maxNew);
            // With a trace or a small vocabulary the logits come to Java and are sampled there;
            // otherwise only the drawn ids leave the engine (a 50k vocabulary would cost a copy per token).
            boolean inJava = logitsTrace != null || vocab <= JAVA_SAMPLING_MAX_VOCAB;
            float[] logits = null;
            Drawn drawn = null;
            float[] lp = new float[1];
            // The nucleus is searched among the most likely tokens until a step needs the whole
            // vocabulary sorted; a model that flat (random weights, say) stays so for the call.
            int candidates = TOP_P_CANDIDATES;
            try (NDManager step = prefillManager) { // prefill activations are freed before decoding
                NDArray h = model.hidden(pre.tokens(), pre.positions(), pre.bias(), cache);
                if (inJava) {
                    logits = lastLogits(h).toFloatArray();
                    hostValues += logits.length;
                } else {
                    drawn = sampleRows(lastLogits(h), cfg, uniforms(rng, n, cfg), candidates);
                    hostValues += drawn.ids().length + drawn.logProbs().length;
                    candidates = drawn.sortedVocabulary() ? Integer.MAX_VALUE : candidates;
                }
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
                        if (inJava) {
                            tok = sample(logits, i * vocab, vocab, cfg, rng, lp);
                            logProbs[i][lengths[i]] = lp[0];
                        } else {
                            tok = drawn.ids()[i];
                            logProbs[i][lengths[i]] = drawn.logProbs()[i];
                        }
                        out[i][lengths[i]++] = tok;
                        if (isEos(tok)) {
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
                    if (inJava) {
                        logits = lastLogits(h).toFloatArray();
                        hostValues += logits.length;
                    } else {
                        drawn = sampleRows(lastLogits(h), cfg, uniforms(rng, n, cfg), candidates);
                        hostValues += drawn.ids().length + drawn.logProbs().length;
                        candidates = drawn.sortedVocabulary() ? Integer.MAX_VALUE : candidates;
                    }
                    cache.attach(gen);
                }
            }
        }
        List<Completion> result = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            result.add(new Completion(i / k, Arrays.copyOf(out[i], lengths[i]), Arrays.copyOf(logProbs[i], lengths[i]), done[i]));
        }
        return result;
    }

    /** Values this generator has copied from the engine to Java (logits rows or drawn ids). */
    long hostValuesCopied() {
        return hostValues;
    }

    /** (rows, vocab) logits of each row's last position. */
    private NDArray lastLogits(NDArray hidden) {
        long t = hidden.getShape().get(1);
        NDArray last = hidden.get(":, {}:, :", t - 1);
        return model.logits(last).squeeze(1);
    }

    private static float[] uniforms(Rng rng, int n, SamplingConfig cfg) {
        float[] u = new float[n];
        if (cfg.temperature() > 0f) {
            for (int i = 0; i < n; i++) {
                u[i] = (float) rng.nextDouble();
            }
        }
        return u;
    }

    /** Ids drawn on the engine, one per row, with their log-probabilities under the sampling distribution. */
    record Drawn(int[] ids, float[] logProbs, boolean sortedVocabulary) {
        Drawn(int[] ids, float[] logProbs) {
            this(ids, logProbs, false);
        }
    }

    /**
     * Draws one id per row of {@code logits} (rows, vocab) on the engine, by inverting the
     * (temperature-scaled, top-p truncated) cumulative distribution at the row's uniform {@code u}:
     * the same distribution as {@link #sample}; only the ids and their log-probabilities come back
     * to Java.
     */
    static Drawn sampleRows(NDArray logits, SamplingConfig cfg, float[] u) {
        return sampleRows(logits, cfg, u, TOP_P_CANDIDATES);
    }

    /**
     * As {@link #sampleRows(NDArray, SamplingConfig, float[])}, looking for the top-p nucleus among
     * the {@code candidates} most likely tokens first (a partial selection, O(vocab)) and sorting the
     * whole vocabulary (O(vocab log vocab), the cost of sampling a 50k vocabulary on a CPU) only when
     * some row's nucleus is larger. Both give the same draws: the tokens outside the candidates hold
     * less mass than the candidates' smallest, so once the candidates' mass reaches top-p the
     * nucleus is among them, in the same order.
     */
    static Drawn sampleRows(NDArray logits, SamplingConfig cfg, float[] u, int candidates) {
        NDManager m = logits.getManager();
        long vocab = logits.getShape().get(1);
        int n = u.length;
        if (cfg.temperature() == 0f) {
            return new Drawn(toInts(logits.argMax(1)), new float[n]); // greedy: probability 1
        }
        NDArray logp = logits.div(m.full(new Shape(), cfg.temperature())).logSoftmax(1);
        NDArray probs = logp.exp();
        NDArray target = m.create(u, new Shape(n, 1));
        if (cfg.topP() >= 1f) {
            NDArray below = probs.cumSum(1).lt(target).toType(ai.djl.ndarray.types.DataType.INT64, false).sum(new int[] {1});
            NDArray ids = below.minimum(vocab - 1);
            return new Drawn(toInts(ids), logp.gather(ids.expandDims(1), 1).squeeze(1).toFloatArray());
        }
        if (candidates < vocab) {
            Drawn d = amongCandidates(logp, probs, target, cfg, candidates);
            if (d != null) {
                return d;
            }
        }
        NDArray order = probs.argSort(1, false);
        Drawn d = nucleus(logp, probs.gather(order, 1), order, target, cfg);
        return new Drawn(d.ids(), d.logProbs(), true);
    }

    /** The draw when every row's nucleus lies among its {@code candidates} most likely tokens; else null. */
    static Drawn amongCandidates(NDArray logp, NDArray probs, NDArray target, SamplingConfig cfg, int candidates) {
        NDList top = probs.topK(candidates, 1, true, true); // values descending, their ids
        NDArray sorted = top.get(0);
        NDArray mass = sorted.sum(new int[] {1});
        if (!mass.gte(probs.getManager().full(new Shape(), cfg.topP())).all().getBoolean()) {
            return null;
        }
        return nucleus(logp, sorted, top.get(1), target, cfg);
    }

    /**
     * The draw from the top-p nucleus, given each row's tokens in descending probability
     * ({@code order}, their probabilities {@code sorted}; the whole vocabulary or a prefix of it that
     * holds the nucleus).
     */
    private static Drawn nucleus(NDArray logp, NDArray sorted, NDArray order, NDArray target, SamplingConfig cfg) {
        NDManager m = logp.getManager();
        NDArray cum = sorted.cumSum(1);
        // Keep the most likely tokens until their mass reaches top-p (the one crossing it included).
        NDArray keep = cum.sub(sorted).lt(m.full(new Shape(), cfg.topP()));
        NDArray kept = sorted.mul(keep.toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
        NDArray keptCum = kept.cumSum(1);
        NDArray scaled = target.mul(keptCum.get(":, -1:"));
        NDArray count = keep.toType(ai.djl.ndarray.types.DataType.INT64, false).sum(new int[] {1});
        NDArray index = keptCum.lt(scaled).toType(ai.djl.ndarray.types.DataType.INT64, false).sum(new int[] {1})
                .minimum(count.sub(1)).expandDims(1);
        NDArray ids = order.gather(index, 1);
        // Renormalised over the kept tokens: log p - log(kept mass).
        NDArray chosenLogp = logp.gather(ids, 1).squeeze(1).sub(keptCum.get(":, -1").log());
        return new Drawn(toInts(ids.squeeze(1)), chosenLogp.toFloatArray());
    }

    private static int[] toInts(NDArray ids) {
        long[] l = ids.toType(ai.djl.ndarray.types.DataType.INT64, false).toLongArray();
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            out[i] = (int) l[i];
        }
        return out;
    }

    /** Draws one token id from row logits[offset .. offset+vocab). */
    static int sample(float[] logits, int offset, int vocab, SamplingConfig cfg, Rng rng) {
        return sample(logits, offset, vocab, cfg, rng, new float[1]);
    }

    /**
     * Draws one token id from row logits[offset .. offset+vocab); {@code logProb[0]} receives its
     * log-probability under the distribution it was drawn from (0 for greedy).
     */
    static int sample(float[] logits, int offset, int vocab, SamplingConfig cfg, Rng rng, float[] logProb) {
        if (cfg.temperature() == 0f) {
            int best = 0;
            for (int j = 1; j < vocab; j++) {
                if (logits[offset + j] > logits[offset + best]) {
                    best = j;
                }
            }
            logProb[0] = 0f;
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
        double logZ = Math.log(z);
        if (cfg.topP() >= 1f) {
            double acc = 0;
            for (int j = 0; j < vocab; j++) {
                acc += p[j] / z;
                if (u < acc) {
                    logProb[0] = (float) ((logits[offset + j] - max) / cfg.temperature() - logZ);
                    return j;
                }
            }
            logProb[0] = (float) ((logits[offset + vocab - 1] - max) / cfg.temperature() - logZ);
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
        int pick = order[cut - 1];
        for (int j = 0; j < cut; j++) {
            acc += p[order[j]] / z;
            if (target < acc) {
                pick = order[j];
                break;
            }
        }
        // Renormalised over the kept (top-p) tokens.
        logProb[0] = (float) ((logits[offset + pick] - max) / cfg.temperature() - logZ - Math.log(kept));
        return pick;
    }
}
