package io.optune.engine.snapshot;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.optune.engine.Json;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.Tokenizer;
import io.optune.engine.tokenizer.Tokenizers;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A versioned, self-describing policy snapshot: a safetensors file whose metadata holds the format,
 * the policy version and training step, the model config and tokenizer spec as JSON, and the SHA-256
 * of the tensor data. Loading checks all of it, so a corrupted, truncated or tampered file, or one
 * for another model shape, is refused with a clear {@link SnapshotException}. Parameters are stored
 * as raw float32, so a round trip is bit-identical.
 */
public final class PolicySnapshot {
    public static final String FORMAT = "optune-policy";
    /** 2: Hugging Face parameter names and a {@code config.json} config. */
    public static final int FORMAT_VERSION = 2;

    private PolicySnapshot() {}

    /** What a snapshot says about itself, besides its parameters. */
    public record Header(long version, long step, ModelConfig config, Map<String, Object> tokenizerSpec, boolean scalarHead, String paramsSha256) {}

    /** A loaded snapshot; the caller owns (and closes) the model. */
    public record Loaded(Header header, TransformerLM model, Tokenizer tokenizer) {}

    public static byte[] encode(TransformerLM model, Tokenizer tokenizer, long version, long step) {
        // Hugging Face models often pad their embedding past the tokenizer (Qwen: 151,936 rows for
        // 151,669 ids); the extra rows are never produced by the tokenizer. Only ids the model lacks are an error.
        if (tokenizer.vocabSize() > model.config().vocabSize()) {
            throw new IllegalArgumentException("tokenizer vocabulary " + tokenizer.vocabSize()
                    + " exceeds the model's " + model.config().vocabSize());
        }
        LinkedHashMap<String, SafeTensors.Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
            tensors.put(e.getKey(), new SafeTensors.Tensor(e.getValue().getShape().getShape(), e.getValue().toFloatArray()));
        }
        String paramsSha = Hashing.sha256(SafeTensors.write(tensors, Map.of()));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("format_version", Integer.toString(FORMAT_VERSION));
        meta.put("policy_version", Long.toString(version));
        meta.put("step", Long.toString(step));
        meta.put("config", Json.write(model.config()));
        meta.put("tokenizer", Json.write(tokenizer.spec()));
        meta.put("scalar_head", Boolean.toString(model.hasScalarHead()));
        meta.put("params_sha256", paramsSha);
        return SafeTensors.write(tensors, meta);
    }

    /** Reads and checks the header and data without building a model. */
    public static Header verify(byte[] bytes) {
        return verify(bytes, SafeTensors.read(bytes));
    }

    private static Header verify(byte[] bytes, SafeTensors.Contents c) {
        Map<String, String> meta = c.metadata();
        if (!FORMAT.equals(meta.get("format"))) {
            throw new SnapshotException("not an optune policy snapshot (format '" + meta.get("format") + "')");
        }
        int fv = Integer.parseInt(meta.getOrDefault("format_version", "-1"));
        if (fv != FORMAT_VERSION) {
            throw new SnapshotException("unsupported snapshot format version " + fv + " (this build reads " + FORMAT_VERSION + ")");
        }
        String expected = meta.get("params_sha256");
        String actual = Hashing.sha256(SafeTensors.write(new LinkedHashMap<>(c.tensors()), Map.of()));
        if (!actual.equals(expected)) {
            throw new SnapshotException("snapshot parameters do not match their checksum (corrupted or tampered): expected "
                    + expected + ", got " + actual);
        }
        ModelConfig config = Json.read(meta.get("config"), ModelConfig.class);
        boolean head = Boolean.parseBoolean(meta.get("scalar_head"));
        LinkedHashMap<String, Shape> shapes = TransformerLM.parameterShapes(config, head);
        if (!shapes.keySet().equals(c.tensors().keySet())) {
            throw new SnapshotException("snapshot tensors " + c.tensors().keySet() + " do not match its config");
        }
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            if (!new Shape(c.tensors().get(e.getKey()).shape()).equals(e.getValue())) {
                throw new SnapshotException("tensor '" + e.getKey() + "' does not have the shape its config needs: " + e.getValue());
            }
        }
        return new Header(
                Long.parseLong(meta.get("policy_version")),
                Long.parseLong(meta.get("step")),
                config,
                Json.readMap(meta.get("tokenizer")),
                head,
                expected);
    }

    /**
     * Loads a snapshot.
     *
     * @param expectedFileSha256 when not null, the SHA-256 of the whole file that the publisher
     *     announced; a different file is refused
     * @param expectedConfig when not null, the model config the caller runs; another is refused
     */
    public static Loaded load(byte[] bytes, NDManager manager, String expectedFileSha256, ModelConfig expectedConfig) {
        if (expectedFileSha256 != null) {
            String actual = Hashing.sha256(bytes);
            if (!actual.equals(expectedFileSha256)) {
                throw new SnapshotException("snapshot file checksum mismatch: announced " + expectedFileSha256 + ", file has " + actual);
            }
        }
        SafeTensors.Contents c = SafeTensors.read(bytes);
        Header header = verify(bytes, c);
        if (expectedConfig != null && !Objects.equals(expectedConfig, header.config())) {
            throw new SnapshotException("snapshot is for model " + header.config() + ", expected " + expectedConfig);
        }
        Tokenizer tokenizer = Tokenizers.fromSpec(header.tokenizerSpec());
        if (tokenizer.vocabSize() > header.config().vocabSize()) {
            throw new SnapshotException("snapshot's tokenizer has " + tokenizer.vocabSize() + " ids, more than its model's "
                    + header.config().vocabSize());
        }
        try (NDManager tmp = manager.newSubManager()) {
            Map<String, NDArray> arrays = new LinkedHashMap<>();
            c.tensors().forEach((k, t) -> arrays.put(k, tmp.create(t.data(), new Shape(t.shape()))));
            TransformerLM model = TransformerLM.fromArrays(header.config(), manager, arrays, header.scalarHead());
            return new Loaded(header, model, tokenizer);
        }
    }
}
