package io.optune.engine.bench;

import ai.djl.ndarray.NDManager;
import io.optune.engine.Rng;
import io.optune.engine.checkpoint.HfCheckpoint;
import io.optune.engine.checkpoint.LocalCheckpointFiles;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PreferenceExample;
import io.optune.engine.train.StepResult;
import io.optune.engine.train.TrainerState;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Smoke run of a real-sized checkpoint through the engine (not a unit test): load, KV-cached
 * sampling, one DPO step on 8 pairs (with micro-batches), trainer state streamed to a file and back.
 * Prints what it measured. {@code java -cp ... io.optune.engine.bench.CheckpointSmoke DIR [microPairs]}
 */
public final class CheckpointSmoke {
    private CheckpointSmoke() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int micro = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        try (NDManager manager = NDManager.newBaseManager()) {
            long t0 = System.nanoTime();
            HfCheckpoint.Loaded loaded = HfCheckpoint.load(new LocalCheckpointFiles(dir), manager);
            double loadS = secs(t0);
            int vocab = loaded.config().vocabSize();
            System.out.printf("loaded %s: %,d parameters in %.1f s (RSS %d MB)%n", loaded.config().family().modelType(),
                    loaded.model().parameterCount(), loadS, rssMb());
            Rng rng = new Rng(1);
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                prompts.add(randomIds(rng, 32, vocab));
            }
            Generator gen = new Generator(loaded.model(), new int[0], 0);
            t0 = System.nanoTime();
            gen.generate(manager, prompts, new SamplingConfig(1f, 1f, 32, 1), rng);
            double genS = secs(t0);
            System.out.printf("sampling 8 prompts x 32 new tokens (KV cache): %.1f s, %.1f tokens/s%n", genS, 8 * 32 / genS);
            List<PreferenceExample> pairs = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                pairs.add(new PreferenceExample(randomIds(rng, 32, vocab), randomIds(rng, 64, vocab), randomIds(rng, 64, vocab), 1.0));
            }
            DpoConfig dpo = new DpoConfig(LossType.SIGMOID, 0.1f, 0f, AdamWConfig.of(1e-5f), micro);
            try (DpoTrainer trainer = new DpoTrainer(loaded.model(), dpo)) {
                for (int s = 0; s < 2; s++) {
                    t0 = System.nanoTime();
                    StepResult r = trainer.step(pairs);
                    System.out.printf("DPO step %d on 8 pairs of 96 tokens (micro-batch %d): %.1f s, loss %.4f (RSS %d MB)%n",
                            s + 1, micro, secs(t0), r.loss(), rssMb());
                }
                Path state = Files.createTempFile("trainer-state", ".safetensors");
                t0 = System.nanoTime();
                try (var out = new BufferedOutputStream(Files.newOutputStream(state), 1 << 20)) {
                    TrainerState.write(trainer, 0L, out);
                }
                System.out.printf("trainer state written: %,d bytes in %.1f s%n", Files.size(state), secs(t0));
                t0 = System.nanoTime();
                try (var in = new BufferedInputStream(Files.newInputStream(state), 1 << 20);
                        DpoTrainer back = TrainerState.read(in, manager, dpo).trainer()) {
                    System.out.printf("trainer state read back at step %d in %.1f s (RSS %d MB)%n", back.step(), secs(t0), rssMb());
                }
                Files.delete(state);
            }
        }
    }

    private static int[] randomIds(Rng rng, int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = rng.nextInt(vocab);
        }
        return ids;
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    private static long rssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D", "")) / 1024;
                }
            }
        } catch (Exception e) {
            // not Linux
        }
        return -1;
    }
}
