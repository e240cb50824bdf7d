package io.optune.engine.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.optune.engine.Rng;

import java.util.Locale;

/**
 * Top-p sampling of one decoding step on the engine, 32 rows x a 50,257-token vocabulary, with the
 * nucleus searched among the 256 most likely tokens first (the default) against sorting the whole
 * vocabulary, for a peaked distribution (logits ~ N(0, 8^2): the nucleus is a few dozen tokens, as
 * with a trained model) and a flat one (~ N(0, 0.5^2): most of the vocabulary, as with random weights,
 * where the search finds no nucleus and falls back to the sort). Prints one JSON object per case.
 * {@code SamplerBench [reps]}, on the classpath of {@code bin/optune-bench-scale}.
 */
public final class SamplerBench {
    private SamplerBench() {}

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        int rows = 32;
        int vocab = 50257;
        SamplingConfig cfg = new SamplingConfig(1f, 0.9f, 1, 1);
        try (NDManager manager = NDManager.newBaseManager()) {
            for (double scale : new double[] {8, 0.5}) {
                Rng rng = new Rng(1);
                float[] values = new float[rows * vocab];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (scale * rng.nextGaussian());
                }
                float[] u = new float[rows];
                for (int i = 0; i < rows; i++) {
                    u[i] = (float) rng.nextDouble();
                }
                NDArray logits = manager.create(values, new Shape(rows, vocab));
                double search = time(reps, () -> draw(logits, cfg, u, Generator.TOP_P_CANDIDATES));
                double sort = time(reps, () -> draw(logits, cfg, u, vocab));
                System.out.println(String.format(Locale.ROOT,
                        "{\"logit_std\":%.1f,\"rows\":%d,\"vocab\":%d,\"search_then_sort_ms\":%.2f,\"sort_ms\":%.2f}",
                        scale, rows, vocab, search * 1e3, sort * 1e3));
                logits.close();
            }
        }
    }

    /** One draw per row, its intermediates freed. */
    private static int[] draw(NDArray logits, SamplingConfig cfg, float[] u, int candidates) {
        try (NDManager m = logits.getManager().newSubManager()) {
            NDArray l = logits.duplicate();
            l.attach(m);
            return Generator.sampleRows(l, cfg, u, candidates).ids();
        }
    }

    private static double time(int reps, Runnable r) {
        r.run();
        double best = Double.MAX_VALUE;
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }
}
