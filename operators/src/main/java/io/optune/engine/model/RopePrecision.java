package io.optune.engine.model;

/**
 * Precision of the RoPE inverse frequencies. transformers computes them in float32, but a module
 * cast with {@code .to(torch.bfloat16)} (or float16) rounds this buffer too, and keeps the rounded
 * values when it is cast back to float32; {@link #BFLOAT16} / {@link #FLOAT16} reproduce such a model
 * exactly (its logits differ from float32 frequencies by about 1e-2 on a random tiny model).
 */
public enum RopePrecision {
    FLOAT32,
    BFLOAT16,
    FLOAT16;

    float round(float f) {
        switch (this) {
            case FLOAT32:
                return f;
            case BFLOAT16: {
                int bits = Float.floatToRawIntBits(f);
                int rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
                return Float.intBitsToFloat(rounded);
            }
            case FLOAT16:
                return io.optune.engine.checkpoint.SafeTensorsStream.roundToHalf(f);
            default:
                throw new AssertionError(this);
        }
    }

    /** The precision named by a torch dtype string ({@code bfloat16}, {@code float16}, ...); float32 otherwise. */
    public static RopePrecision ofTorchDtype(String dtype) {
        if (dtype == null) {
            return FLOAT32;
        }
        switch (dtype.replace("torch.", "")) {
            case "bfloat16":
                return BFLOAT16;
            case "float16":
            case "half":
                return FLOAT16;
            default:
                return FLOAT32;
        }
    }
}
