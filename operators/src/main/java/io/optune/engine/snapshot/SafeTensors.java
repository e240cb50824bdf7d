package io.optune.engine.snapshot;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.Json;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads and writes the safetensors layout (an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw little-endian data), the format
 * Hugging Face checkpoints ship in. Only F32 tensors are written; F32 is read.
 */
public final class SafeTensors {
    private SafeTensors() {}

    /** A tensor as plain data. */
    public record Tensor(long[] shape, float[] data) {}

    /** A parsed file: string metadata ({@code __metadata__}) and tensors in file order. */
    public record Contents(Map<String, String> metadata, LinkedHashMap<String, Tensor> tensors, int dataOffset) {}

    public static byte[] write(Map<String, Tensor> tensors, Map<String, String> metadata) {
        ObjectNode header = Json.MAPPER.createObjectNode();
        ObjectNode meta = header.putObject("__metadata__");
        metadata.forEach(meta::put);
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", "F32");
            var shape = t.putArray("shape");
            long count = 1;
            for (long d : e.getValue().shape()) {
                shape.add(d);
                count *= d;
            }
            if (count != e.getValue().data().length) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' shape does not match its data");
            }
            var range = t.putArray("data_offsets");
            range.add(offset);
            offset += count * 4;
            range.add(offset);
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // the format pads the header with spaces to 8 bytes
        ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(padded);
        buf.put(json);
        for (int i = json.length; i < padded; i++) {
            buf.put((byte) ' ');
        }
        for (Tensor t : tensors.values()) {
            for (float f : t.data()) {
                buf.putFloat(f);
            }
        }
        return buf.array();
    }

    public static Contents read(byte[] bytes) {
        if (bytes.length < 8) {
            throw new SnapshotException("truncated safetensors file: " + bytes.length + " bytes");
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLen = buf.getLong();
        if (headerLen <= 0 || headerLen > bytes.length - 8) {
            throw new SnapshotException("corrupted safetensors header length " + headerLen + " in a file of " + bytes.length + " bytes");
        }
        JsonNode header;
        try {
            header = Json.MAPPER.readTree(new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8));
        } catch (Exception e) {
            throw new SnapshotException("corrupted safetensors header: " + e.getMessage(), e);
        }
        int dataStart = (int) (8 + headerLen);
        long dataLen = bytes.length - dataStart;
        Map<String, String> meta = new LinkedHashMap<>();
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        Iterator<Map.Entry<String, JsonNode>> fields = header.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> f = fields.next();
            if (f.getKey().equals("__metadata__")) {
                f.getValue().fields().forEachRemaining(m -> meta.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            JsonNode t = f.getValue();
            String dtype = t.path("dtype").asText();
            if (!dtype.equals("F32")) {
                throw new SnapshotException("tensor '" + f.getKey() + "' has dtype " + dtype + "; only F32 is supported");
            }
            JsonNode shapeNode = t.path("shape");
            long[] shape = new long[shapeNode.size()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong();
                count *= shape[i];
            }
            long begin = t.path("data_offsets").path(0).asLong(-1);
            long end = t.path("data_offsets").path(1).asLong(-1);
            if (begin < 0 || end < begin || end > dataLen || end - begin != count * 4) {
                throw new SnapshotException("tensor '" + f.getKey() + "' has byte range [" + begin + ", " + end
                        + ") outside the " + dataLen + " data bytes or not matching its shape (file truncated?)");
            }
            float[] data = new float[(int) count];
            ByteBuffer slice = ByteBuffer.wrap(bytes, (int) (dataStart + begin), (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
            slice.asFloatBuffer().get(data);
            tensors.put(f.getKey(), new Tensor(shape, data));
        }
        return new Contents(meta, tensors, dataStart);
    }
}
