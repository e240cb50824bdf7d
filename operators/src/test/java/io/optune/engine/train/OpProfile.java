package io.optune.engine.train;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.optune.engine.Rng;
import io.optune.engine.bench.ScaleBench;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.Precision;
import io.optune.engine.model.TransformerLM;

import java.util.ArrayList;
import java.util.List;

/**
 * Records the PyTorch ops of one weighted-DPO step (ScaleBench's work) with libtorch's profiler, as
 * Chrome traces: on a GPU a step of these sizes is bound by kernel launches, so the number of ops the
 * engine dispatches is what to compare with PyTorch's ({@code bin/op_profile.py} counts both, recording
 * {@code bin/pytorch_peer_scale.py}'s step under torch.profiler). The count does not depend on the width,
 * so a small body on a CPU gives the GPU's count. Three traces: the loss and its gradients
 * ({@code OUT-model.json}), then the update in the GPU's form ({@code OUT-adamw-gpu.json}: flat moment
 * buffers) and in the CPU's ({@code OUT-adamw-cpu.json}), each after a warm-up.
 *
 * <p>{@code OpProfile SHAPE OUT [precision]}.
 */
public final class OpProfile {
    private OpProfile() {}

    public static void main(String[] args) throws Exception {
        ModelConfig config = ScaleBench.shape(args[0]);
        String out = args[1];
        Precision precision = args.length > 2 ? Precision.parse(args[2]) : Precision.FLOAT32;
        try (NDManager manager = NDManager.newBaseManager()) {
            TransformerLM model = TransformerLM.create(config, manager, 1, false);
            Rng data = new Rng(2);
            List<PreferenceExample> pairs = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                pairs.add(new PreferenceExample(ScaleBench.ids(data, 32, config.vocabSize()),
                        ScaleBench.ids(data, 64, config.vocabSize()), ScaleBench.ids(data, 64, config.vocabSize()), 1.0));
            }
            AdamWConfig adamw = AdamWConfig.of(1e-5f);
            DpoConfig dpo = new DpoConfig(LossType.SIGMOID, 0.1f, 1f, adamw).withPrecision(precision);
            try (DpoTrainer trainer = new DpoTrainer(model, dpo);
                    AdamW gpuForm = new AdamW(trainer.policy(), adamw, true);
                    AdamW cpuForm = new AdamW(trainer.policy(), adamw, false)) {
                DpoTrainer.Evaluation e = trainer.lossAndGradients(pairs); // warm-up: cached scalars, buffers
                gpuForm.finish(e.loss());
                cpuForm.finish(e.loss());
                e = trainer.lossAndGradients(pairs);
                if (System.getProperty("optune.opprofile.time") != null) { // median wall time of the loss and gradients
                    int n = Integer.getInteger("optune.opprofile.time");
                    long[] ns = new long[n];
                    for (int i = 0; i < n; i++) {
                        long t0 = System.nanoTime();
                        trainer.lossAndGradients(pairs);
                        ns[i] = System.nanoTime() - t0;
                    }
                    java.util.Arrays.sort(ns);
                    System.out.printf(java.util.Locale.ROOT, "loss and gradients: median %.1f ms of %d%n", ns[n / 2] / 1e6, n);
                }
                JniUtils.startProfile(false, false, false);
                e = trainer.lossAndGradients(pairs);
                JniUtils.stopProfile(out + "-model.json");
                JniUtils.startProfile(false, false, false);
                gpuForm.finish(e.loss());
                JniUtils.stopProfile(out + "-adamw-gpu.json");
                JniUtils.startProfile(false, false, false);
                cpuForm.finish(e.loss());
                JniUtils.stopProfile(out + "-adamw-cpu.json");
            }
        }
    }
}
