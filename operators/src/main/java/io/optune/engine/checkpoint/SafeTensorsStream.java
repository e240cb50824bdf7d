package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.index.NDIndex;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.Json;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

/**
 * Streaming access to safetensors files (an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and byte range, then the raw little-endian data). The header is read
 * and validated first; tensors are then read in offset order from a plain {@link InputStream},
 * one bounded buffer at a time, so files of any size load from any file system without a
 * whole-file array. F32, F16 and BF16 are widened to float32 in Java (exact), since DJL 0.36
 * aborts the JVM on any bfloat16 array.
 */
public final class SafeTensorsStream {
    /** safetensors' own limit on the header. */
    static final long MAX_HEADER_BYTES = 100L << 20;
    /** No tensor of a model we run has more dimensions or more bytes than these (1 TiB). */
    static final int MAX_RANK = 8;
    static final long MAX_TENSOR_BYTES = 1L << 40;

    /** Bytes of float32 read into one native array at most; larger tensors are built in row blocks. */
    static final long DEFAULT_CHUNK_BYTES = 256L << 20;

    private SafeTensorsStream() {}

    /** Tensor element types this reader understands (and the writer writes). */
    public enum Dtype {
        F32(4), F16(2), BF16(2);

        private final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }

        public int bytes() {
            return bytes;
        }

        static Dtype parse(String s, String tensor, String file) {
            for (Dtype d : values()) {
                if (d.name().equals(s)) {
                    return d;
                }
            }
            throw new CheckpointException("tensor '" + tensor + "' in " + file + " has dtype " + s
                    + "; supported: F32, F16, BF16");
        }
    }

    /** One tensor of the header; {@code begin}/{@code end} are relative to the data section. */
    public record Entry(String name, Dtype dtype, long[] shape, long begin, long end) {
        public long count() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        public Shape djlShape() {
            return new Shape(shape);
        }
    }

    /** A validated header: metadata and entries in offset order. */
    public record Header(Map<String, String> metadata, List<Entry> entries) {
        public Entry get(String name) {
            for (Entry e : entries) {
                if (e.name().equals(name)) {
                    return e;
                }
            }
            return null;
        }
    }

    /** Reads and validates the header; the stream is left at the start of the data. */
    public static Header readHeader(InputStream in, String file) throws IOException {
        return readHeader(in, file, -1);
    }

    /**
     * As {@link #readHeader(InputStream, String)}, and when {@code fileSize} is known (not -1) the header
     * and every tensor's byte range must lie inside the file, so nothing is sized by a claim the file
     * cannot back.
     */
    public static Header readHeader(InputStream in, String file, long fileSize) throws IOException {
        byte[] lenBytes = in.readNBytes(8);
        if (lenBytes.length < 8) {
            throw new CheckpointException(file + " is truncated: " + lenBytes.length + " bytes, no header");
        }
        long headerLen = ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen <= 1 || headerLen > MAX_HEADER_BYTES || (fileSize >= 0 && headerLen > fileSize - 8)) {
            throw new CheckpointException(file + " has an invalid safetensors header length " + headerLen
                    + (fileSize >= 0 ? " for a file of " + fileSize + " bytes" : ""));
        }
        byte[] json = in.readNBytes((int) headerLen);
        if (json.length < headerLen) {
            throw new CheckpointException(file + " is truncated inside its header");
        }
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(new String(json, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new CheckpointException(file + " has a corrupted safetensors header: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(file + " has a safetensors header that is not a JSON object");
        }
        Map<String, String> meta = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> fields = root.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> f = fields.next();
            if (f.getKey().equals("__metadata__")) {
                f.getValue().fields().forEachRemaining(m -> meta.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            entries.add(entry(f.getKey(), f.getValue(), file));
        }
        entries.sort(Comparator.comparingLong(Entry::begin));
        long previousEnd = 0;
        String previous = null;
        for (Entry e : entries) {
            if (e.begin() < previousEnd) {
                throw new CheckpointException("tensor '" + e.name() + "' in " + file + " overlaps '" + previous + "'");
            }
            previousEnd = e.end();
            previous = e.name();
        }
        if (fileSize >= 0 && previousEnd > fileSize - 8 - headerLen) {
            throw new CheckpointException(file + " is truncated: its header describes " + previousEnd + " data bytes, the file holds "
                    + (fileSize - 8 - headerLen));
        }
        return new Header(meta, Collections.unmodifiableList(entries));
    }

    private static Entry entry(String name, JsonNode t, String file) {
        Dtype dtype = Dtype.parse(t.path("dtype").asText(), name, file);
        JsonNode shapeNode = t.path("shape");
        JsonNode range = t.path("data_offsets");
        if (!shapeNode.isArray() || !range.isArray() || range.size() != 2) {
            throw new CheckpointException("tensor '" + name + "' in " + file + " lacks a shape or data_offsets");
        }
        if (shapeNode.size() > MAX_RANK) {
            throw new CheckpointException("tensor '" + name + "' in " + file + " has " + shapeNode.size() + " dimensions");
        }
        long[] shape = new long[shapeNode.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                throw new CheckpointException("tensor '" + name + "' in " + file + " has an invalid shape " + shapeNode);
            }
            shape[i] = d.asLong();
            // Hostile headers claim absurd sizes: refuse before any arithmetic can overflow.
            if (shape[i] > MAX_TENSOR_BYTES || (count = count * shape[i]) > MAX_TENSOR_BYTES) {
                throw new CheckpointException("tensor '" + name + "' in " + file + " has an impossible shape " + shapeNode);
            }
        }
        JsonNode b = range.get(0);
        JsonNode en = range.get(1);
        long begin = b.isIntegralNumber() && b.canConvertToLong() ? b.asLong() : -1;
        long end = en.isIntegralNumber() && en.canConvertToLong() ? en.asLong() : -1;
        if (begin < 0 || end < begin || end - begin != count * dtype.bytes()) {
            throw new CheckpointException("tensor '" + name + "' in " + file + " has byte range [" + begin + ", " + end
                    + ") that does not match its shape " + shapeNode + " of " + dtype);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    /**
     * Reads the tensors after {@link #readHeader}, in offset order, as float32 arrays of {@code manager}
     * handed to {@code sink} (which owns them); tensors not {@code wanted} are skipped.
     */
    public static void readTensors(InputStream in, Header header, String file, NDManager manager,
            Predicate<String> wanted, BiConsumer<String, NDArray> sink) throws IOException {
        readTensors(in, header, file, manager, wanted, sink, DEFAULT_CHUNK_BYTES);
    }

    static void readTensors(InputStream in, Header header, String file, NDManager manager,
            Predicate<String> wanted, BiConsumer<String, NDArray> sink, long chunkBytes) throws IOException {
        long pos = 0;
        long largest = 0;
        long widestRow = 0;
        for (Entry e : header.entries()) {
            if (wanted.test(e.name())) {
                largest = Math.max(largest, e.count() * 4);
                long rows = e.shape().length == 0 || e.shape()[0] == 0 ? 1 : e.shape()[0];
                widestRow = Math.max(widestRow, e.count() / rows * 4);
            }
        }
        long capacity = Math.max(4, Math.max(widestRow, Math.min(chunkBytes, largest)));
        if (capacity > Integer.MAX_VALUE - 8) {
            throw new CheckpointException("a row of a tensor in " + file + " exceeds 2 GB");
        }
        // One staging buffer for the whole file: each block is copied into engine memory at once.
        ByteBuffer staging = ByteBuffer.allocateDirect((int) capacity)
                .order(ByteOrder.nativeOrder());
        byte[] scratch = new byte[1 << 20];
        for (Entry e : header.entries()) {
            skip(in, e.begin() - pos, file);
            pos = e.begin();
            if (!wanted.test(e.name())) {
                skip(in, e.end() - e.begin(), file);
                pos = e.end();
                continue;
            }
            sink.accept(e.name(), readOne(in, e, file, manager, staging, scratch));
            pos = e.end();
        }
    }

    private static NDArray readOne(InputStream in, Entry e, String file, NDManager manager, ByteBuffer staging,
            byte[] scratch) throws IOException {
        long[] shape = e.shape();
        long rows = shape.length == 0 ? 1 : shape[0];
        long rowElems = rows == 0 ? 0 : e.count() / rows;
        long rowsPerBlock = rowElems == 0 ? Math.max(1, rows)
                : Math.max(1, staging.capacity() / (rowElems * 4));
        if (rowElems * 4 > staging.capacity() && rowElems > 0) {
            throw new CheckpointException("tensor '" + e.name() + "' in " + file + " has rows of "
                    + rowElems * 4 + " bytes, more than one block of " + staging.capacity());
        }
        List<NDArray> blocks = new ArrayList<>();
        try {
            for (long r0 = 0; r0 < rows || (rows == 0 && blocks.isEmpty()); r0 += rowsPerBlock) {
                long n = Math.min(rowsPerBlock, rows - r0);
                long elems = rows == 0 ? 0 : n * rowElems;
                staging.clear();
                fill(in, staging, elems, e.dtype(), scratch, e, file);
                staging.flip();
                long[] blockShape = shape.clone();
                if (blockShape.length > 0) {
                    blockShape[0] = rows == 0 ? 0 : n;
                }
                try (NDArray shared = manager.create(staging.slice().order(ByteOrder.nativeOrder()),
                        new Shape(blockShape), DataType.FLOAT32)) {
                    // The engine may keep pointing at the staging memory: copy before reusing it.
                    blocks.add(shared.duplicate());
                }
                if (rows == 0) {
                    break;
                }
            }
            if (blocks.size() == 1) {
                return blocks.get(0);
            }
            NDArray whole = NDArrays.concat(new NDList(blocks), 0);
            blocks.forEach(NDArray::close);
            return whole;
        } catch (RuntimeException | IOException ex) {
            blocks.forEach(NDArray::close);
            throw ex;
        }
    }

    /** Reads {@code elems} elements of {@code dtype} from the stream into {@code out} as native float32. */
    private static void fill(InputStream in, ByteBuffer out, long elems, Dtype dtype, byte[] scratch, Entry e, String file)
            throws IOException {
        long remaining = elems * dtype.bytes();
        while (remaining > 0) {
            int want = (int) Math.min(scratch.length, remaining);
            int got = in.readNBytes(scratch, 0, want);
            if (got < want) {
                throw new CheckpointException(file + " is truncated inside tensor '" + e.name() + "'");
            }
            ByteBuffer src = ByteBuffer.wrap(scratch, 0, got).order(ByteOrder.LITTLE_ENDIAN);
            switch (dtype) {
                case F32:
                    if (out.order() == ByteOrder.LITTLE_ENDIAN) {
                        out.put(scratch, 0, got);
                    } else {
                        while (src.hasRemaining()) {
                            out.putFloat(src.getFloat());
                        }
                    }
                    break;
                case BF16:
                    while (src.hasRemaining()) {
                        out.putFloat(Float.intBitsToFloat((src.getShort() & 0xffff) << 16));
                    }
                    break;
                case F16:
                    while (src.hasRemaining()) {
                        out.putFloat(halfToFloat(src.getShort()));
                    }
                    break;
                default:
                    throw new AssertionError(dtype);
            }
            remaining -= got;
        }
    }

    private static void skip(InputStream in, long n, String file) throws IOException {
        if (n <= 0) {
            return;
        }
        try {
            in.skipNBytes(n);
        } catch (EOFException ex) {
            throw new CheckpointException(file + " is truncated (data ends before its header says)", ex);
        }
    }

    /**
     * Writes {@code tensors} (float32 arrays, any device) as one safetensors file in {@code dtype}:
     * the header first (it only needs shapes), then each tensor in blocks of rows, so no copy of the
     * whole file or of a whole large tensor is made in Java.
     */
    public static void write(OutputStream out, Map<String, NDArray> tensors, Map<String, String> metadata, Dtype dtype)
            throws IOException {
        ObjectNode header = Json.MAPPER.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", dtype.name());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.getValue().getShape().getShape()) {
                shape.add(d);
            }
            ArrayNode range = t.putArray("data_offsets");
            range.add(offset);
            offset += e.getValue().getShape().size() * dtype.bytes();
            range.add(offset);
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // the format pads the header with spaces to 8 bytes
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
        out.write(len.array());
        out.write(json);
        for (int i = json.length; i < padded; i++) {
            out.write(' ');
        }
        for (NDArray a : tensors.values()) {
            writeTensor(out, a, dtype);
        }
        out.flush();
    }

    private static void writeTensor(OutputStream out, NDArray a, Dtype dtype) throws IOException {
        long[] shape = a.getShape().getShape();
        long rows = shape.length == 0 ? 1 : shape[0];
        long rowElems = rows == 0 ? 0 : a.getShape().size() / rows;
        long rowsPerBlock = Math.max(1, (16L << 20) / Math.max(1, rowElems));
        for (long r0 = 0; r0 < rows; r0 += rowsPerBlock) {
            long r1 = Math.min(rows, r0 + rowsPerBlock);
            float[] values;
            if (shape.length == 0 || (r0 == 0 && r1 == rows)) {
                values = a.toFloatArray();
            } else {
                try (NDArray block = a.get(new NDIndex("{}:{}", r0, r1))) {
                    values = block.toFloatArray();
                }
            }
            ByteBuffer buf = ByteBuffer.allocate(values.length * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
            switch (dtype) {
                case F32:
                    buf.asFloatBuffer().put(values);
                    break;
                case F16:
                    for (float v : values) {
                        buf.putShort(floatToHalf(v));
                    }
                    break;
                case BF16:
                    for (float v : values) {
                        buf.putShort(floatToBf16(v));
                    }
                    break;
                default:
                    throw new AssertionError(dtype);
            }
            out.write(buf.array());
        }
    }

    /** IEEE 754 binary16 to float32 (exact; Java 17 has no {@code Float.float16ToFloat}). */
    static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            float v = mant * 0x1p-24f; // subnormal: mant * 2^-24, exact in float32
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** float32 rounded to the nearest binary16 value, as float32. */
    public static float roundToHalf(float f) {
        return halfToFloat(floatToHalf(f));
    }

    /** float32 to IEEE 754 binary16, rounding to nearest even. */
    static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xff;
        int mant = bits & 0x7fffff;
        if (exp == 0xff) {
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            if (e < -10) {
                return (short) sign;
            }
            mant |= 0x800000;
            int shift = 14 - e;
            int half = mant >>> shift;
            int rem = mant & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rem > mid || (rem == mid && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mant >>> 13);
        int rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0)) {
            half++; // may carry into the exponent, which is the correct rounding
        }
        return (short) (sign | half);
    }

    /** float32 to bfloat16, rounding to nearest even (NaN stays NaN). */
    static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
