package io.optune.engine.reward;

import io.optune.engine.checkpoint.CheckpointShape;
import io.optune.engine.checkpoint.LocalCheckpointFiles;
import io.optune.engine.checkpoint.RandomCheckpointMain;
import io.optune.engine.checkpoint.SafeTensorsStream;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The in-job reward checkpoint's throughput (docs/BENCHMARKS.md): responses scored per second,
 * one sequence per forward pass against several per pass, measured side by side in interleaved
 * rounds so that a machine loaded by others disturbs every mode alike. Run by
 * {@code bin/optune-bench-reward}.
 *
 * <pre>
 *   --checkpoint DIR   a reward checkpoint (default: a random GPT-2-small reward model, 124M, written to a temp dir)
 *   --responses N      responses scored per mode and round (default 32)
 *   --rounds N         interleaved rounds (default 3; the first is a warm-up, not counted)
 *   --batches 1,16,32  sequences per forward pass to compare (default 1,16,32)
 *   --prompt-tokens N  mean prompt length (default 32, +-8)
 *   --response-tokens N mean response length (default 64, +-16)
 * </pre>
 *
 * Token ids are random: tokenization is not part of the forward pass measured here.
 */
public final class RewardBenchmarkMain {
    private RewardBenchmarkMain() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --option, got " + args[i]);
            }
            o.put(args[i].substring(2), args[i + 1]);
        }
        int responses = Integer.parseInt(o.getOrDefault("responses", "32"));
        int rounds = Integer.parseInt(o.getOrDefault("rounds", "3"));
        int promptTokens = Integer.parseInt(o.getOrDefault("prompt-tokens", "32"));
        int responseTokens = Integer.parseInt(o.getOrDefault("response-tokens", "64"));
        int[] batches = Arrays.stream(o.getOrDefault("batches", "1,16,32").split(",")).mapToInt(Integer::parseInt).toArray();
        Path dir;
        if (o.containsKey("checkpoint")) {
            dir = Path.of(o.get("checkpoint"));
        } else {
            dir = Files.createTempDirectory("optune-reward-bench");
            long t0 = System.nanoTime();
            RandomCheckpointMain.write(CheckpointShape.GPT2_SMALL, dir, SafeTensorsStream.Dtype.F32, null, null, 50256, 0, true);
            System.out.printf("wrote a random GPT-2-small reward checkpoint to %s in %.1f s%n", dir, (System.nanoTime() - t0) / 1e9);
        }
        List<HfRewardModel> models = new ArrayList<>();
        try {
            for (int b : batches) {
                models.add(HfRewardModel.load(new LocalCheckpointFiles(dir), null, HfRewardModel.Settings.defaults().withBatchSize(b)));
            }
            int vocab = models.get(0).model().config().vocabSize();
            System.out.printf("model %s, %,d parameters, %d responses per mode and round, prompt ~%d + response ~%d tokens, "
                    + "threads %s%n", models.get(0).name(), models.get(0).model().parameterCount(), responses, promptTokens,
                    responseTokens, System.getProperty("ai.djl.pytorch.num_threads", "(engine default)"));
            Random rnd = new Random(1);
            double[] seconds = new double[batches.length];
            for (int round = 0; round < rounds; round++) {
                List<int[]> rows = new ArrayList<>();
                for (int i = 0; i < responses; i++) {
                    int len = promptTokens - 8 + rnd.nextInt(17) + responseTokens - 16 + rnd.nextInt(33);
                    int[] r = new int[len];
                    for (int j = 0; j < len; j++) {
                        r[j] = rnd.nextInt(vocab - 1); // never the EOS/pad id at the top of GPT-2's vocabulary
                    }
                    rows.add(r);
                }
                // Alternate the order of the modes between rounds so neither always runs first.
                for (int k = 0; k < batches.length; k++) {
                    int m = round % 2 == 0 ? k : batches.length - 1 - k;
                    long t0 = System.nanoTime();
                    double[] s = models.get(m).scoreTokens(rows);
                    double dt = (System.nanoTime() - t0) / 1e9;
                    if (Arrays.stream(s).anyMatch(v -> !Double.isFinite(v))) {
                        throw new IllegalStateException("non-finite reward in the benchmark");
                    }
                    System.out.printf("round %d, batch %2d: %.2f s, %.2f responses/s%s%n", round, batches[m], dt, responses / dt,
                            round == 0 ? " (warm-up)" : "");
                    if (round > 0) {
                        seconds[m] += dt;
                    }
                }
            }
            System.out.println();
            System.out.println("| sequences per forward | responses/s | vs one at a time |");
            System.out.println("|---|---|---|");
            double base = (rounds - 1) * responses / seconds[0];
            for (int m = 0; m < batches.length; m++) {
                double rate = (rounds - 1) * responses / seconds[m];
                System.out.printf("| %d | %.2f | %.2fx |%n", batches[m], rate, rate / base);
            }
        } finally {
            models.forEach(HfRewardModel::close);
        }
    }
}
