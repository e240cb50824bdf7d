package io.optune.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.optune.engine.InvalidInputException;

import java.util.List;

/**
 * Builds padded model inputs. Scoring batches are right-padded (a causal mask alone then keeps the
 * padding out of every real position); generation batches are left-padded so every row's next token
 * sits in the last column.
 */
public final class Batches {
    private Batches() {}

    /** Right-padded prompt+response sequences, shifted for next-token prediction. */
    public record Scoring(NDArray inputs, NDArray positions, NDArray bias, NDArray targets, NDArray responseMask, NDArray lastIndex) {}

    /**
     * @param prompts token ids starting with BOS
     * @param responses response token ids (ending with EOS when the response ended)
     */
    public static Scoring scoring(NDManager m, List<int[]> prompts, List<int[]> responses, int contextLength) {
        int b = prompts.size();
        if (responses.size() != b) {
            throw new IllegalArgumentException("prompts and responses differ in count");
        }
        int t = 1;
        for (int i = 0; i < b; i++) {
            int len = prompts.get(i).length + responses.get(i).length;
            if (len > contextLength) {
                throw new InvalidInputException(
                        "sequence-too-long",
                        "prompt + response is " + len + " tokens, the model's context is " + contextLength);
            }
            if (prompts.get(i).length == 0) {
                throw new InvalidInputException("empty-prompt", "a prompt has no tokens (not even BOS)");
            }
            t = Math.max(t, len - 1);
        }
        long[] in = new long[b * t];
        long[] tg = new long[b * t];
        float[] mask = new float[b * t];
        long[] pos = new long[b * t];
        long[] last = new long[b];
        int[] real = new int[b];
        for (int i = 0; i < b; i++) {
            int[] p = prompts.get(i);
            int[] r = responses.get(i);
            int len = p.length + r.length;
            real[i] = len - 1;
            for (int j = 0; j < t; j++) {
                pos[i * t + j] = j;
                if (j < len - 1) {
                    in[i * t + j] = j < p.length ? p[j] : r[j - p.length];
                    int next = j + 1;
                    tg[i * t + j] = next < p.length ? p[next] : r[next - p.length];
                    mask[i * t + j] = next >= p.length ? 1f : 0f;
                }
            }
            last[i] = Math.max(0, len - 2);
        }
        return new Scoring(
                m.create(in, new Shape(b, t)),
                m.create(pos, new Shape(b, t)),
                rightPaddedBias(m, real, t),
                m.create(tg, new Shape(b, t)),
                m.create(mask, new Shape(b, t)),
                m.create(last, new Shape(b)));
    }

    /** Right-padded rows as model inputs: tokens, positions from 0, and their attention bias. */
    public record Inputs(NDArray tokens, NDArray positions, NDArray bias) {}

    /**
     * Rows of token ids right-padded with {@code padId} to the longest; as transformers with an
     * attention mask, every position attends causally to the real tokens of its row only.
     */
    public static Inputs rightPadded(NDManager m, List<int[]> rows, int padId) {
        int b = rows.size();
        int t = 1;
        for (int[] r : rows) {
            t = Math.max(t, r.length);
        }
        long[] tok = new long[b * t];
        long[] pos = new long[b * t];
        int[] real = new int[b];
        for (int i = 0; i < b; i++) {
            int[] r = rows.get(i);
            real[i] = r.length;
            for (int j = 0; j < t; j++) {
                tok[i * t + j] = j < r.length ? r[j] : padId;
                pos[i * t + j] = j;
            }
        }
        return new Inputs(m.create(tok, new Shape(b, t)), m.create(pos, new Shape(b, t)), rightPaddedBias(m, real, t));
    }

    /**
     * (B, 1, T, T) causal mask that also hides each row's right padding as a key (so a padded
     * position still sees its row's real tokens, as in transformers; real positions never see pads).
     */
    static NDArray rightPaddedBias(NDManager m, int[] realLengths, int t) {
        int b = realLengths.length;
        float[] bias = new float[b * t * t];
        for (int i = 0; i < b; i++) {
            for (int q = 0; q < t; q++) {
                int base = (i * t + q) * t;
                for (int k = 0; k < t; k++) {
                    if (k > q || k >= realLengths[i]) {
                        bias[base + k] = TransformerLM.MASKED;
                    }
                }
            }
        }
        return m.create(bias, new Shape(b, 1, t, t));
    }

    /** (1, 1, T, T) additive causal mask. */
    public static NDArray causalBias(NDManager m, int t) {
        float[] bias = new float[t * t];
        for (int q = 0; q < t; q++) {
            for (int k = q + 1; k < t; k++) {
                bias[q * t + k] = TransformerLM.MASKED;
            }
        }
        return m.create(bias, new Shape(1, 1, t, t));
    }

    /** Left-padded prompts for generation. */
    public record Prefill(NDArray tokens, NDArray positions, NDArray bias, int[] padding, int width) {}

    public static Prefill prefill(NDManager m, List<int[]> prompts) {
        int b = prompts.size();
        int p = 0;
        for (int[] pr : prompts) {
            if (pr.length == 0) {
                throw new InvalidInputException("empty-prompt", "a prompt has no tokens (not even BOS)");
            }
            p = Math.max(p, pr.length);
        }
        long[] tok = new long[b * p];
        long[] pos = new long[b * p];
        float[] bias = new float[b * p * p];
        int[] pad = new int[b];
        for (int i = 0; i < b; i++) {
            int[] pr = prompts.get(i);
            pad[i] = p - pr.length;
            for (int j = 0; j < p; j++) {
                int rel = j - pad[i];
                tok[i * p + j] = rel >= 0 ? pr[rel] : 0;
                pos[i * p + j] = Math.max(0, rel);
                for (int k = 0; k < p; k++) {
                    boolean visible = k <= j && k >= pad[i];
                    bias[(i * p + j) * p + k] = visible ? 0f : TransformerLM.MASKED;
                }
            }
        }
        return new Prefill(
                m.create(tok, new Shape(b, p)),
                m.create(pos, new Shape(b, p)),
                m.create(bias, new Shape(b, 1, p, p)),
                pad,
                p);
    }

    /** Mask for one decode step over {@code keys} cached positions: left padding stays hidden. */
    public static NDArray decodeBias(NDManager m, int[] padding, int keys) {
        int b = padding.length;
        float[] bias = new float[b * keys];
        for (int i = 0; i < b; i++) {
            for (int k = 0; k < padding[i]; k++) {
                bias[i * keys + k] = TransformerLM.MASKED;
            }
        }
        return m.create(bias, new Shape(b, 1, 1, keys));
    }
}
