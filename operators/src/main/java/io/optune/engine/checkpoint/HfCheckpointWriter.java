package io.optune.engine.checkpoint;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.GradMode;
import io.optune.engine.Json;
import io.optune.engine.model.TransformerLM;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Writes a {@link TransformerLM} as a Hugging Face checkpoint directory that transformers (and vLLM,
 * TGI) read as it is: {@code config.json} (with {@code architectures} and {@code torch_dtype}),
 * {@code generation_config.json} and {@code model.safetensors} in float32, float16 or bfloat16
 * (with the {@code format: pt} metadata transformers checks). Tensor names are the model's own,
 * which are already Hugging Face's; a tied head is not written, as {@code save_pretrained} does.
 * Tokenizer files are the caller's to add.
 */
public final class HfCheckpointWriter {
    private HfCheckpointWriter() {}

    public static void write(TransformerLM model, GenerationSettings generation, CheckpointFiles dir,
            SafeTensorsStream.Dtype dtype) {
        GradMode.off();
        try {
            ObjectNode config = model.config().toJson(model.hasScalarHead());
            config.put("torch_dtype", torchName(dtype));
            config.put("dtype", torchName(dtype));
            if (generation != null) {
                ObjectNode g = generation.toJson();
                g.fields().forEachRemaining(e -> config.set(e.getKey(), e.getValue()));
            }
            writeText(dir, HfCheckpoint.CONFIG, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(config));
            if (generation != null) {
                writeText(dir, HfCheckpoint.GENERATION,
                        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(generation.toJson()));
            }
            try (OutputStream out = dir.create(HfCheckpoint.WEIGHTS)) {
                SafeTensorsStream.write(out, model.parameters(), Map.of("format", "pt"), dtype);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write a checkpoint to " + dir.describe() + ": " + e.getMessage(), e);
        }
    }

    /** The torch name of a stored dtype ({@code float32}, {@code float16}, {@code bfloat16}). */
    public static String torchName(SafeTensorsStream.Dtype dtype) {
        switch (dtype) {
            case F32:
                return "float32";
            case F16:
                return "float16";
            case BF16:
                return "bfloat16";
            default:
                throw new AssertionError(dtype);
        }
    }

    private static void writeText(CheckpointFiles dir, String name, String text) throws IOException {
        try (OutputStream out = dir.create(name)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }
}
