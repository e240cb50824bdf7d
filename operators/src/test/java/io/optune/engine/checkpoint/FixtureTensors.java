package io.optune.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Json;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads a small safetensors file of reference values whole (tests only): F32 and I64 tensors as
 * flat Java arrays with their shapes. Independent of the engine's streaming reader on purpose.
 */
public final class FixtureTensors {
    public record Tensor(long[] shape, float[] floats, long[] longs) {
        int dim(int i) {
            return (int) shape[i];
        }
    }

    private FixtureTensors() {}

    static Map<String, Tensor> read(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int headerLen = (int) buf.getLong();
        JsonNode header = Json.MAPPER.readTree(new String(bytes, 8, headerLen, StandardCharsets.UTF_8));
        Map<String, Tensor> out = new LinkedHashMap<>();
        header.fields().forEachRemaining(f -> {
            if (f.getKey().equals("__metadata__")) {
                return;
            }
            JsonNode t = f.getValue();
            long[] shape = new long[t.get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = t.get("shape").get(i).asLong();
            }
            int begin = 8 + headerLen + t.get("data_offsets").get(0).asInt();
            int end = 8 + headerLen + t.get("data_offsets").get(1).asInt();
            ByteBuffer data = ByteBuffer.wrap(bytes, begin, end - begin).order(ByteOrder.LITTLE_ENDIAN);
            switch (t.get("dtype").asText()) {
                case "F32": {
                    float[] v = new float[(end - begin) / 4];
                    data.asFloatBuffer().get(v);
                    out.put(f.getKey(), new Tensor(shape, v, null));
                    break;
                }
                case "I64": {
                    long[] v = new long[(end - begin) / 8];
                    data.asLongBuffer().get(v);
                    out.put(f.getKey(), new Tensor(shape, null, v));
                    break;
                }
                default:
                    throw new IllegalArgumentException("fixture dtype " + t.get("dtype"));
            }
        });
        return out;
    }
}
