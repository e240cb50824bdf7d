package io.optune.engine.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.optune.engine.EngineDevice;
import io.optune.engine.GradMode;
import io.optune.engine.Rng;
import io.optune.engine.checkpoint.HfCheckpoint;
import io.optune.engine.checkpoint.HfCheckpointWriter;
import io.optune.engine.checkpoint.LocalCheckpointFiles;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.model.Batches;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PreferenceExample;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.io.PrintWriter;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

/**
 * The engine half of {@code bin/optune-gpu-check} (run there through {@code .gpu/run-on-gpu.sh} on a GPU
 * machine, or on this CPU for a dry run): the parity and cache tests on the engine's default device
 * (a GPU when DJL sees one), an export of each tiny fixture family after one DPO step on the device
 * for transformers to load and compare, and {@link ScaleBench} for each shape.
 *
 * <p>{@code GpuCheck DEVICE OUT SHAPES REPS [PRECISIONS]}: DEVICE cpu/gpu/gpu:N, OUT a folder, SHAPES
 * comma-separated ({@code gpt2-124m,qwen2-0.5b}; empty for none), PRECISIONS comma-separated
 * ({@code float32,float16} by default).
 */
public final class GpuCheck {
    static final String[] FAMILIES = {"gpt2-tiny", "llama-tiny", "qwen2-tiny", "qwen3-tiny"};

    private GpuCheck() {}

    public static void main(String[] args) throws Exception {
        Device device = EngineDevice.parse(args.length > 0 ? args[0] : "gpu");
        Path out = Path.of(args.length > 1 ? args[1] : "gpu-check-out");
        String[] shapes = args.length > 2 && !args[2].isBlank() ? args[2].split(",") : new String[0];
        String reps = args.length > 3 ? args[3] : "2";
        Files.createDirectories(out);
        Engine engine = Engine.getInstance();
        System.out.printf("engine: %s %s, GPUs visible: %d, default device: %s, checked device: %s%n",
                engine.getEngineName(), engine.getVersion(), engine.getGpuCount(), engine.defaultDevice(), device);
        if (!engine.defaultDevice().equals(device)) {
            System.out.println("note: the unit tests below run on the default device " + engine.defaultDevice());
        }
        boolean testsOk = runTests();
        boolean exportsOk = exportFixtures(device, out);
        String[] precisions = args.length > 4 && !args[4].isBlank() ? args[4].split(",") : new String[] {"float32", "float16"};
        for (String shape : shapes) {
            for (String precision : precisions) {
                System.out.println("== ScaleBench " + shape + " " + precision + " on " + device);
                try {
                    ScaleBench.main(new String[] {shape, reps, args.length > 0 ? args[0] : "gpu", precision});
                } catch (RuntimeException | OutOfMemoryError e) {
                    System.out.println("{\"shape\":\"" + shape + "\",\"precision\":\"" + precision + "\",\"error\":\""
                            + e.toString().replace('"', '\'') + "\"}");
                }
            }
        }
        System.out.println("GPU check (engine part): tests " + (testsOk ? "passed" : "FAILED") + ", exports "
                + (exportsOk ? "written" : "FAILED"));
        System.exit(testsOk && exportsOk ? 0 : 1);
    }

    /** HfParityTest and the cache, padding, log-prob and trainer tests, through the JUnit launcher. */
    static boolean runTests() {
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass("io.optune.engine.checkpoint.HfParityTest"),
                        selectClass("io.optune.engine.generate.GeneratorTest"),
                        selectClass("io.optune.engine.model.LogProbsTest"),
                        selectClass("io.optune.engine.train.DpoTrainerTest"),
                        selectClass("io.optune.engine.checkpoint.MixedPrecisionTest"),
                        selectClass("io.optune.engine.train.TrainerStateTest"),
                        selectClass("io.optune.engine.train.AdamWTest"))
                .build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        long t0 = System.nanoTime();
        launcher.execute(request, listener);
        TestExecutionSummary s = listener.getSummary();
        System.out.printf(Locale.ROOT, "tests: %d found, %d passed, %d failed, %d skipped (%.1f s)%n", s.getTestsFoundCount(),
                s.getTestsSucceededCount(), s.getTotalFailureCount(), s.getTestsSkippedCount(), (System.nanoTime() - t0) / 1e9);
        if (s.getTotalFailureCount() > 0) {
            s.printFailuresTo(new PrintWriter(System.out, true), 12);
        }
        return s.getTotalFailureCount() == 0 && s.getTestsFoundCount() > 0;
    }

    /**
     * Each tiny fixture family, loaded on {@code device}, after one DPO step there, exported as a
     * transformers checkpoint with the engine's logits of a fixed batch beside it (engine_logits.json).
     */
    static boolean exportFixtures(Device device, Path out) {
        boolean ok = true;
        for (String family : FAMILIES) {
            try (NDManager manager = NDManager.newBaseManager(device)) {
                URL url = GpuCheck.class.getResource("/hf/" + family);
                if (url == null) {
                    throw new IllegalStateException("fixture /hf/" + family + " not on the classpath");
                }
                HfCheckpoint.Loaded loaded = HfCheckpoint.load(new LocalCheckpointFiles(Path.of(url.toURI())), manager);
                int vocab = loaded.config().vocabSize();
                Rng rng = new Rng(7);
                List<PreferenceExample> pairs = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    pairs.add(new PreferenceExample(ScaleBench.ids(rng, 6, vocab), ScaleBench.ids(rng, 5, vocab),
                            ScaleBench.ids(rng, 7, vocab), 1.0));
                }
                DpoTrainer trainer = new DpoTrainer(loaded.model(),
                        new DpoConfig(LossType.SIGMOID, 0.1f, 0f, AdamWConfig.of(1e-2f)));
                double loss = trainer.step(pairs).loss();
                TransformerLM policy = trainer.policy();
                Path dir = out.resolve("export-" + family);
                Files.createDirectories(dir);
                HfCheckpointWriter.write(policy, loaded.generation(), new LocalCheckpointFiles(dir), SafeTensorsStream.Dtype.F32);
                GradMode.off();
                int t = 9;
                long[] tokens = new long[2 * t];
                for (int i = 0; i < tokens.length; i++) {
                    tokens[i] = 3 + rng.nextInt(vocab - 3);
                }
                long[] pos = new long[2 * t];
                for (int i = 0; i < pos.length; i++) {
                    pos[i] = i % t;
                }
                NDArray logits = policy.logits(policy.hidden(manager.create(tokens, new Shape(2, t)),
                        manager.create(pos, new Shape(2, t)), Batches.causalBias(manager, t), null));
                float[] values = logits.toFloatArray();
                StringBuilder json = new StringBuilder("{\"tokens\":[");
                for (int i = 0; i < tokens.length; i++) {
                    json.append(i == 0 ? "" : ",").append(tokens[i]);
                }
                json.append("],\"shape\":[2,").append(t).append(',').append(vocab).append("],\"logits\":[");
                for (int i = 0; i < values.length; i++) {
                    json.append(i == 0 ? "" : ",").append(values[i]);
                }
                json.append("]}");
                Files.writeString(dir.resolve("engine_logits.json"), json);
                trainer.close();
                System.out.printf(Locale.ROOT, "export %s: DPO step on %s (loss %.4f), written to %s%n", family, device, loss, dir);
            } catch (Exception e) {
                ok = false;
                System.out.println("export " + family + " FAILED: " + e);
            }
        }
        return ok;
    }
}
