package io.optune.engine.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.optune.engine.Json;
import io.optune.engine.checkpoint.CheckpointException;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.snapshot.Hashing;
import io.optune.engine.snapshot.SnapshotException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The DPO trainer's complete state (policy, reference, AdamW moments, step, skipped steps, RNG
 * state), for operator checkpoints: restoring and continuing gives exactly the updates an
 * uninterrupted run would. Stored as safetensors with tensors prefixed {@code policy.},
 * {@code reference.}, {@code adam_m.}, {@code adam_v.} (Hugging Face parameter names after the
 * prefix), followed by the SHA-256 of everything before it, so a truncated or damaged state is
 * refused rather than half-loaded.
 *
 * <p>{@link #write}/{@link #read} stream it tensor by tensor (16 bytes per parameter, never one Java
 * array; use them for large models and file-backed state); {@link #save}/{@link #restore} are the
 * same bytes in memory for small models.
 */
public final class TrainerState {
    public static final String FORMAT = "optune-trainer-state";
    /** 2: Hugging Face parameter names and a {@code config.json} config. */
    public static final int FORMAT_VERSION = 2;

    private static final String[] GROUPS = {"policy.", "reference.", "adam_m.", "adam_v."};

    private TrainerState() {}

    public static byte[] save(DpoTrainer trainer, long rngState) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            write(trainer, rngState, out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Streams the state to {@code out} (not closed). */
    public static void write(DpoTrainer trainer, long rngState, OutputStream out) throws IOException {
        writeTensors(tensors(trainer), metadata(trainer, rngState), out);
    }

    /**
     * Copies the state on the trainer's device into arrays of its own, so it can be written on another
     * thread while training goes on: the copy is the state at this moment, whatever the trainer does
     * next. Costs a second copy of policy, reference and moments (16 bytes per parameter) until closed.
     */
    public static Frozen freeze(DpoTrainer trainer, long rngState) {
        LinkedHashMap<String, NDArray> live = tensors(trainer);
        // A manager of its own (not under the trainer's), so closing the trainer never frees a copy being written.
        NDManager owner = NDManager.newBaseManager(live.values().iterator().next().getDevice());
        LinkedHashMap<String, NDArray> copies = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, NDArray> e : live.entrySet()) {
                NDArray copy = e.getValue().duplicate();
                copy.attach(owner);
                copies.put(e.getKey(), copy);
            }
        } catch (RuntimeException e) {
            owner.close();
            throw e;
        }
        return new Frozen(owner, copies, metadata(trainer, rngState));
    }

    /** A trainer's state copied at one moment ({@link #freeze}); write it from any thread, then close it. */
    public static final class Frozen implements AutoCloseable {
        private final NDManager owner;
        private final LinkedHashMap<String, NDArray> tensors;
        private final Map<String, String> meta;

        private Frozen(NDManager owner, LinkedHashMap<String, NDArray> tensors, Map<String, String> meta) {
            this.owner = owner;
            this.tensors = tensors;
            this.meta = meta;
        }

        public long step() {
            return Long.parseLong(meta.get("step"));
        }

        /** Bytes of tensor data held by the copy. */
        public long tensorBytes() {
            return tensors.values().stream().mapToLong(a -> a.getShape().size() * a.getDataType().getNumOfBytes()).sum();
        }

        /** The same bytes {@link TrainerState#write} gives for the trainer at the moment it was frozen. */
        public void write(OutputStream out) throws IOException {
            writeTensors(tensors, meta, out);
        }

        @Override
        public void close() {
            owner.close();
        }
    }

    private static LinkedHashMap<String, NDArray> tensors(DpoTrainer trainer) {
        LinkedHashMap<String, NDArray> t = new LinkedHashMap<>();
        put(t, "policy.", trainer.policy().parameters());
        put(t, "reference.", trainer.reference().parameters());
        put(t, "adam_m.", trainer.optimizer().firstMoments());
        put(t, "adam_v.", trainer.optimizer().secondMoments());
        return t;
    }

    private static Map<String, String> metadata(DpoTrainer trainer, long rngState) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("format_version", Integer.toString(FORMAT_VERSION));
        meta.put("config", Json.write(trainer.policy().config()));
        meta.put("dpo", Json.write(trainer.config()));
        meta.put("step", Long.toString(trainer.step()));
        meta.put("skipped_steps", Long.toString(trainer.skippedSteps()));
        meta.put("rng_state", Long.toString(rngState));
        // float16 training: the loss scale and its run of clean steps, so a restore scales as the run would have
        meta.put("precision", trainer.config().precision().toString());
        meta.put("loss_scale", Float.toString(trainer.lossScaler().scale()));
        meta.put("loss_scale_clean_steps", Integer.toString(trainer.lossScaler().cleanSteps()));
        meta.put("loss_scale_overflows", Long.toString(trainer.lossScaler().overflows()));
        return meta;
    }

    private static void writeTensors(Map<String, NDArray> t, Map<String, String> meta, OutputStream out) throws IOException {
        MessageDigest sha = sha256();
        OutputStream body = new DigestOutputStream(new FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() {
                // the caller's stream stays open
            }
        }, sha);
        SafeTensorsStream.write(body, t, meta, SafeTensorsStream.Dtype.F32);
        // Trailing digest so that a truncated or damaged checkpoint is refused, not half-loaded.
        out.write(sha.digest());
        out.flush();
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
        try {
            return read(new ByteArrayInputStream(bytes), manager, config);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Reads a state written by {@link #write}, tensor by tensor straight into the new trainer's
     * arrays; the trailing digest is checked at the end and nothing is returned if it differs.
     */
    public static Restored read(InputStream in, NDManager manager, DpoConfig config) throws IOException {
        MessageDigest sha = sha256();
        DigestInputStream body = new DigestInputStream(in, sha);
        NDManager staging = manager.newSubManager();
        Map<String, Map<String, NDArray>> groups = new HashMap<>();
        for (String g : GROUPS) {
            groups.put(g, new LinkedHashMap<>());
        }
        TransformerLM policy = null;
        TransformerLM reference = null;
        try {
            SafeTensorsStream.Header header = SafeTensorsStream.readHeader(body, "trainer state");
            Map<String, String> meta = header.metadata();
            if (!FORMAT.equals(meta.get("format")) || !Integer.toString(FORMAT_VERSION).equals(meta.get("format_version"))) {
                throw new SnapshotException("not a trainer state of format " + FORMAT + " v" + FORMAT_VERSION
                        + " (found " + meta.get("format") + " v" + meta.get("format_version") + ")");
            }
            ModelConfig mc = Json.read(meta.get("config"), ModelConfig.class);
            SafeTensorsStream.readTensors(body, header, "trainer state", staging, n -> true, (name, array) -> {
                for (String g : GROUPS) {
                    if (name.startsWith(g)) {
                        groups.get(g).put(name.substring(g.length()), array);
                        return;
                    }
                }
                array.close();
            });
            byte[] digest = in.readNBytes(32);
            if (!Arrays.equals(digest, sha.digest())) {
                throw new SnapshotException("trainer state is damaged (checksum mismatch)");
            }
            policy = TransformerLM.adopt(mc, own(manager, groups.get("policy.")), groups.get("policy."), false);
            reference = TransformerLM.adopt(mc, own(manager, groups.get("reference.")), groups.get("reference."), false);
            DpoTrainer trainer = new DpoTrainer(policy, reference, config);
            policy = null; // the trainer owns them now
            reference = null;
            try {
                trainer.optimizer().replaceMoments(groups.get("adam_m."), groups.get("adam_v."));
            } catch (RuntimeException e) {
                trainer.close();
                throw e;
            }
            trainer.optimizer().setStep(Long.parseLong(meta.get("step")));
            trainer.setSkippedSteps(Long.parseLong(meta.get("skipped_steps")));
            if (config.precision().toString().equals(meta.get("precision")) && meta.containsKey("loss_scale")) {
                trainer.lossScaler().restore(Float.parseFloat(meta.get("loss_scale")),
                        Integer.parseInt(meta.get("loss_scale_clean_steps")), Long.parseLong(meta.get("loss_scale_overflows")));
            }
            return new Restored(trainer, Long.parseLong(meta.get("rng_state")));
        } catch (CheckpointException | IllegalArgumentException e) {
            throw new SnapshotException("trainer state is damaged or incompatible: " + e.getMessage(), e);
        } finally {
            if (policy != null) {
                policy.close();
            }
            if (reference != null) {
                reference.close();
            }
            staging.close(); // whatever was not adopted
        }
    }

    /** A new sub-manager that takes over the arrays (no copy). */
    private static NDManager own(NDManager parent, Map<String, NDArray> arrays) {
        NDManager owner = parent.newSubManager();
        arrays.values().forEach(a -> a.attach(owner));
        return owner;
    }

    /** Reads the step without building anything. */
    public static long step(byte[] bytes) {
        try {
            return Long.parseLong(SafeTensorsStream.readHeader(new ByteArrayInputStream(bytes), "trainer state")
                    .metadata().get("step"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void put(Map<String, NDArray> t, String prefix, Map<String, NDArray> arrays) {
        arrays.forEach((k, a) -> t.put(prefix + k, a));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
