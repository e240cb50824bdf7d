package io.optune.engine.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.optune.engine.Rng;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.ModelFamily;
import io.optune.engine.model.Precision;
import io.optune.engine.model.RopePrecision;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PreferenceExample;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Timed run of the engine at a real model size (JMH is too slow for 124M on 2 cores): KV-cached
 * sampling of 8 prompts x K 4 x 64 new tokens (temperature 1, top-p 0.9, 32-token prompts) and
 * one weighted-DPO step on 8 pairs of 32 + 64 tokens (policy forward and backward, frozen
 * reference, AdamW), plus resident memory. {@code bin/pytorch_peer_scale.py} is the same in
 * PyTorch; {@code bin/optune-bench-scale} runs both back to back. Prints one JSON object.
 *
 * <p>{@code ScaleBench SHAPE [reps] [device] [precision]}: SHAPE {@code gpt2-124m} or {@code qwen2-0.5b};
 * device {@code cpu} (default) or {@code gpu[:N]}; precision {@code float32} (default) or {@code float16}
 * (sampling on a float16 inference copy, the step in mixed precision on float32 masters).
 */
public final class ScaleBench {
    static final int PROMPTS = 8;
    static final int SAMPLES = 4;
    static final int PROMPT_TOKENS = 32;
    static final int NEW_TOKENS = 64;
    static final int PAIRS = 8;

    private ScaleBench() {}

    /** The benchmark shapes by name (random weights: speed does not depend on their values). */
    public static ModelConfig shape(String name) {
        return switch (name) {
            case "gpt2-124m" -> ModelConfig.gpt2(50257, 1024, 768, 12, 12);
            case "gpt2-dry" -> ModelConfig.gpt2(50257, 1024, 64, 2, 2); // dry runs: the real vocabulary, a small body
            case "gpt2-124m-ops" -> ModelConfig.gpt2(1024, 1024, 96, 12, 12); // GPT-2-small's depth and heads, narrow, small vocabulary: op counts
            case "qwen2-0.5b" -> new ModelConfig(ModelFamily.QWEN2, 151936, 32768, 896, 24, 14, 2, 64, 4864,
                    1e-6f, 1_000_000.0, true, RopePrecision.FLOAT32);
            default -> throw new IllegalArgumentException("unknown shape '" + name + "' (gpt2-124m, qwen2-0.5b, gpt2-dry, gpt2-124m-ops)");
        };
    }

    public static void main(String[] args) {
        String shapeName = args.length > 0 ? args[0] : "gpt2-124m";
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        Device device = args.length > 2 ? io.optune.engine.EngineDevice.parse(args[2]) : Device.cpu();
        Precision precision = args.length > 3 ? Precision.parse(args[3]) : Precision.FLOAT32;
        ModelConfig config = shape(shapeName);
        int vocab = config.vocabSize();
        long rssStart = rssMb();
        try (NDManager manager = NDManager.newBaseManager(device)) {
            TransformerLM model = TransformerLM.create(config, manager, 1, false);
            long rssModel = rssMb();
            Rng data = new Rng(2);
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < PROMPTS; i++) {
                prompts.add(ids(data, PROMPT_TOKENS, vocab));
            }
            // A float16 generator decodes with its own inference copy (float16 matrices), as the job's generators do.
            TransformerLM sampler = model;
            if (precision.isHalf()) {
                sampler = model.copy(manager);
                sampler.storeForInference(precision);
            }
            // EOS -1: no row stops early, every call samples the same number of tokens.
            Generator gen = new Generator(sampler, new int[0], 0);
            SamplingConfig sampling = new SamplingConfig(1f, 0.9f, NEW_TOKENS, SAMPLES);
            Rng rng = new Rng(1);
            gen.generate(manager, prompts, new SamplingConfig(1f, 0.9f, 8, SAMPLES), rng); // warm-up
            double sampleS = Double.MAX_VALUE;
            double sampleCpu = Double.MAX_VALUE;
            for (int r = 0; r < reps; r++) {
                long t0 = System.nanoTime();
                long c0 = cpuNanos();
                gen.generate(manager, prompts, sampling, rng);
                sampleS = Math.min(sampleS, secs(t0));
                sampleCpu = Math.min(sampleCpu, (cpuNanos() - c0) / 1e9);
            }
            // Greedy decoding of the same length: the model's share of sampling (no top-p sort, no draw).
            double greedyS = Double.MAX_VALUE;
            for (int r = 0; r < reps; r++) {
                long t0 = System.nanoTime();
                gen.generate(manager, prompts, new SamplingConfig(0f, 1f, NEW_TOKENS, SAMPLES), rng);
                greedyS = Math.min(greedyS, secs(t0));
            }
            long rssSample = rssMb();
            if (sampler != model) {
                sampler.close();
            }
            List<PreferenceExample> pairs = new ArrayList<>();
            for (int i = 0; i < PAIRS; i++) {
                pairs.add(new PreferenceExample(prompts.get(i), ids(data, NEW_TOKENS, vocab), ids(data, NEW_TOKENS, vocab), 1.0));
            }
            DpoConfig dpo = new DpoConfig(LossType.SIGMOID, 0.1f, 1f, AdamWConfig.of(1e-5f)).withPrecision(precision);
            double dpoS = Double.MAX_VALUE;
            double dpoCpu = Double.MAX_VALUE;
            long rssTrain;
            try (DpoTrainer trainer = new DpoTrainer(model, dpo)) {
                if (reps > 1) {
                    trainer.step(pairs); // warm-up; with one repetition the first step is timed (so is the peer's)
                }
                for (int r = 0; r < reps; r++) {
                    long t0 = System.nanoTime();
                    long c0 = cpuNanos();
                    trainer.step(pairs);
                    sync(trainer.policy());
                    dpoS = Math.min(dpoS, secs(t0));
                    dpoCpu = Math.min(dpoCpu, (cpuNanos() - c0) / 1e9);
                }
                rssTrain = rssMb();
            }
            int tokens = PROMPTS * SAMPLES * NEW_TOKENS;
            System.out.println(String.format(Locale.ROOT,
                    "{\"engine\":\"djl %s\",\"device\":\"%s\",\"shape\":\"%s\",\"precision\":\"%s\",\"params\":%d,\"threads\":%s,"
                            + "\"sample_s\":%.3f,\"greedy_s\":%.3f,\"sample_cpu_s\":%.3f,\"sample_tokens_per_s\":%.1f,\"dpo_step_s\":%.3f,\"dpo_cpu_s\":%.3f,"
                            + "\"rss_start_mb\":%d,\"rss_model_mb\":%d,\"rss_after_sampling_mb\":%d,\"rss_after_dpo_mb\":%d}",
                    Engine.getInstance().getVersion(), device, shapeName, precision, model.parameterCount(),
                    System.getProperty("ai.djl.pytorch.num_threads", "default"), sampleS, greedyS, sampleCpu, tokens / sampleS, dpoS, dpoCpu,
                    rssStart, rssModel, rssSample, rssTrain));
        }
    }

    /** Waits for the update's queued kernels (on a GPU the step returns before AdamW finishes). */
    private static void sync(TransformerLM model) {
        NDArray last = null;
        for (NDArray p : model.parameters().values()) {
            last = p;
        }
        try (NDArray s = last.sum()) {
            s.getFloat();
        }
    }

    public static int[] ids(Rng rng, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + rng.nextInt(vocab - 3);
        }
        return t;
    }

    /** CPU time of the whole process (all threads): on a loaded machine it moves less than wall time. */
    private static long cpuNanos() {
        try {
            return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                    .getProcessCpuTime();
        } catch (LinkageError | ClassCastException e) {
            return 0; // a runtime without jdk.management (the GPU check's small Java): CPU time is not reported
        }
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    static long rssMb() {
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
