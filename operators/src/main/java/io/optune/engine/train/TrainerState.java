package io.optune.engine.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.optune.engine.Json;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.snapshot.Hashing;
import io.optune.engine.snapshot.SafeTensors;
import io.optune.engine.snapshot.SnapshotException;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The DPO trainer's complete state as bytes (policy, reference, AdamW moments, step, skipped steps,
 * RNG state and a caller label), for operator checkpoints: restoring and continuing gives exactly
 * the updates an uninterrupted run would. Stored as safetensors with tensors prefixed
 * {@code policy.}, {@code reference.}, {@code adam_m.}, {@code adam_v.}.
 */
public final class TrainerState {
    public static final String FORMAT = "optune-trainer-state";
    public static final int FORMAT_VERSION = 1;

    private TrainerState() {}

    public static byte[] save(DpoTrainer trainer, long rngState) {
        LinkedHashMap<String, SafeTensors.Tensor> t = new LinkedHashMap<>();
        put(t, "policy.", trainer.policy().parameters());
        put(t, "reference.", trainer.reference().parameters());
        put(t, "adam_m.", trainer.optimizer().firstMoments());
        put(t, "adam_v.", trainer.optimizer().secondMoments());
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("format_version", Integer.toString(FORMAT_VERSION));
        meta.put("config", Json.write(trainer.policy().config()));
        meta.put("dpo", Json.write(trainer.config()));
        meta.put("step", Long.toString(trainer.step()));
        meta.put("skipped_steps", Long.toString(trainer.skippedSteps()));
        meta.put("rng_state", Long.toString(rngState));
        byte[] body = SafeTensors.write(t, meta);
        byte[] out = new byte[body.length + 32];
        System.arraycopy(body, 0, out, 0, body.length);
        // Trailing digest so that a truncated or damaged checkpoint is refused, not half-loaded.
        byte[] digest = java.util.HexFormat.of().parseHex(Hashing.sha256(body));
        System.arraycopy(digest, 0, out, body.length, 32);
        return out;
    }

    /** The restored trainer and the RNG state that was saved with it. */
    public record Restored(DpoTrainer trainer, long rngState) {}

    /**
     * Rebuilds a trainer. {@code config} may differ from the saved one (tuning changes on resume);
     * the model shape may not.
     */
    public static Restored restore(byte[] bytes, NDManager manager, DpoConfig config) {
        if (bytes.length < 40) {
            throw new SnapshotException("trainer state truncated: " + bytes.length + " bytes");
        }
        String expected = java.util.HexFormat.of().formatHex(bytes, bytes.length - 32, bytes.length);
        String actual = Hashing.sha256(bytes, 0, bytes.length - 32);
        if (!expected.equals(actual)) {
            throw new SnapshotException("trainer state is damaged (checksum mismatch)");
        }
        byte[] body = java.util.Arrays.copyOf(bytes, bytes.length - 32);
        SafeTensors.Contents c = SafeTensors.read(body);
        if (!FORMAT.equals(c.metadata().get("format"))
                || !Integer.toString(FORMAT_VERSION).equals(c.metadata().get("format_version"))) {
            throw new SnapshotException("not a trainer state of format " + FORMAT + " v" + FORMAT_VERSION);
        }
        ModelConfig mc = Json.read(c.metadata().get("config"), ModelConfig.class);
        try (NDManager tmp = manager.newSubManager()) {
            TransformerLM policy = TransformerLM.fromArrays(mc, manager, arrays(tmp, c, "policy."), false);
            DpoTrainer trainer = new DpoTrainer(policy, config);
            try (TransformerLM ref = TransformerLM.fromArrays(mc, tmp, arrays(tmp, c, "reference."), false)) {
                trainer.reference().copyFrom(ref);
            }
            copyInto(arrays(tmp, c, "adam_m."), trainer.optimizer().firstMoments());
            copyInto(arrays(tmp, c, "adam_v."), trainer.optimizer().secondMoments());
            trainer.optimizer().setStep(Long.parseLong(c.metadata().get("step")));
            trainer.setSkippedSteps(Long.parseLong(c.metadata().get("skipped_steps")));
            return new Restored(trainer, Long.parseLong(c.metadata().get("rng_state")));
        }
    }

    /** Reads the step without building anything. */
    public static long step(byte[] bytes) {
        return Long.parseLong(SafeTensors.read(java.util.Arrays.copyOf(bytes, bytes.length - 32)).metadata().get("step"));
    }

    private static void put(Map<String, SafeTensors.Tensor> t, String prefix, Map<String, NDArray> arrays) {
        arrays.forEach((k, a) -> t.put(prefix + k, new SafeTensors.Tensor(a.getShape().getShape(), a.toFloatArray())));
    }

    private static Map<String, NDArray> arrays(NDManager m, SafeTensors.Contents c, String prefix) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        c.tensors().forEach((k, t) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), m.create(t.data(), new Shape(t.shape())));
            }
        });
        return out;
    }

    private static void copyInto(Map<String, NDArray> src, Map<String, NDArray> dst) {
        for (Map.Entry<String, NDArray> e : dst.entrySet()) {
            NDArray s = src.get(e.getKey());
            if (s == null || !s.getShape().equals(e.getValue().getShape())) {
                throw new SnapshotException("trainer state lacks optimizer moment '" + e.getKey() + "'");
            }
            s.copyTo(e.getValue());
        }
    }
}
