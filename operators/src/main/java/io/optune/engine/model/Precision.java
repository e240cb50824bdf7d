package io.optune.engine.model;

import ai.djl.ndarray.types.DataType;

import java.util.Locale;

/**
 * The number format of the engine's matrix products ({@code optune.engine.precision}).
 *
 * <p>{@link #FLOAT16} is mixed precision as PyTorch's autocast does it: matrix products and the
 * key/value cache in float16; the residual stream, norms, softmax, RoPE, log-probs and every
 * trainable parameter and optimizer moment in float32 (the "master weights"). A trainable model
 * casts its matrices per forward (the casts are in the graph, so gradients land in float32); an
 * inference copy ({@link TransformerLM#storeForInference}) keeps them in float16, so decoding reads
 * half the bytes. DPO training then scales its loss ({@code LossScaler}) so that small gradients
 * survive float16.
 *
 * <p>No bfloat16: DJL 0.36's JNI has no dtype code for it and any bfloat16 array aborts the JVM
 * (CPU and GPU). A bfloat16 checkpoint is widened to float32 on load (exact) and may then run in
 * either precision here.
 */
public enum Precision {
    FLOAT32(DataType.FLOAT32),
    FLOAT16(DataType.FLOAT16);

    private final DataType matmulType;

    Precision(DataType matmulType) {
        this.matmulType = matmulType;
    }

    /** The data type of matrix products and the KV cache. */
    public DataType matmulType() {
        return matmulType;
    }

    public boolean isHalf() {
        return this == FLOAT16;
    }

    /** {@code float32}/{@code fp32} or {@code float16}/{@code fp16}/{@code half}, any case. */
    public static Precision parse(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        switch (v) {
            case "float32", "fp32", "f32":
                return FLOAT32;
            case "float16", "fp16", "f16", "half":
                return FLOAT16;
            case "bfloat16", "bf16":
                throw new IllegalArgumentException("precision '" + value + "' is not available: DJL 0.36 cannot hold "
                        + "bfloat16 arrays (the JVM aborts); use float16 (mixed precision with float32 master weights) "
                        + "or float32");
            default:
                throw new IllegalArgumentException("unknown precision '" + value + "' (float32 or float16)");
        }
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
