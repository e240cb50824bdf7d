package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.Json;
import io.optune.engine.Rng;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Checkpoints are untrusted input. Thousands of corrupted and hostile checkpoint directories, made
 * from real fixtures by seeded mutations of every part (the safetensors header length, its JSON, the
 * tensor data, {@code config.json}, the shard index): each load either succeeds (a flipped data byte
 * is still a valid checkpoint) or fails with a {@link CheckpointException} that says what is wrong;
 * never another exception, a JVM crash, a hang, or a large allocation (the loads run in a heap far
 * smaller than what the hostile headers and configs claim, on a bounded clock).
 */
class CheckpointFuzzTest {
    private static final Path FIXTURES = Path.of("src", "test", "resources", "hf");
    private static final int CASES_PER_FIXTURE = 700;

    /** A checkpoint directory in memory. */
    record MemoryFiles(Map<String, byte[]> files) implements CheckpointFiles {
        @Override
        public InputStream open(String name) throws IOException {
            byte[] b = files.get(name);
            if (b == null) {
                throw new java.io.FileNotFoundException(name);
            }
            return new ByteArrayInputStream(b);
        }

        @Override
        public boolean exists(String name) {
            return files.containsKey(name);
        }

        @Override
        public long size(String name) throws IOException {
            byte[] b = files.get(name);
            if (b == null) {
                throw new java.io.FileNotFoundException(name);
            }
            return b.length;
        }

        @Override
        public String describe() {
            return "memory";
        }
    }

    @Test
    void hostileCheckpointsAreClearErrorsNeverCrashesHangsOrLargeAllocations() throws Exception {
        List<String> outcomes = new ArrayList<>();
        int cases = 0;
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-load");
            t.setDaemon(true);
            return t;
        });
        try (NDManager manager = NDManager.newBaseManager()) {
            for (String fixture : List.of("gpt2-tiny", "llama-tiny", "qwen3-tiny")) {
                Map<String, byte[]> base = new LinkedHashMap<>();
                for (String f : List.of("config.json", "model.safetensors", "generation_config.json")) {
                    base.put(f, Files.readAllBytes(FIXTURES.resolve(fixture).resolve(f)));
                }
                Rng rng = new Rng(fixture.hashCode());
                for (int i = 0; i < CASES_PER_FIXTURE; i++) {
                    Mutation m = MUTATIONS.get(i % MUTATIONS.size());
                    Map<String, byte[]> files = m.apply(new LinkedHashMap<>(base), rng);
                    cases++;
                    Future<String> f = pool.submit(() -> {
                        try (NDManager sub = manager.newSubManager()) {
                            HfCheckpoint.load(new MemoryFiles(files), sub).model().close();
                            return "ok";
                        } catch (CheckpointException e) {
                            assertThat(e.getMessage()).isNotBlank();
                            return "refused";
                        }
                    });
                    String outcome;
                    try {
                        outcome = f.get(20, TimeUnit.SECONDS);
                    } catch (java.util.concurrent.ExecutionException e) {
                        throw new AssertionError(fixture + " case " + i + " (" + m.name() + ") failed with " + e.getCause(), e.getCause());
                    } catch (java.util.concurrent.TimeoutException e) {
                        throw new AssertionError(fixture + " case " + i + " (" + m.name() + ") did not finish in 20 s");
                    }
                    outcomes.add(m.name() + ":" + outcome);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(cases).isGreaterThanOrEqualTo(2000);
        // Every kind of mutation was exercised, and the hostile ones were refused.
        for (Mutation m : MUTATIONS) {
            long refused = outcomes.stream().filter((m.name() + ":refused")::equals).count();
            long ok = outcomes.stream().filter((m.name() + ":ok")::equals).count();
            assertThat(refused + ok).as(m.name() + " exercised").isPositive();
            if (m.mustFail()) {
                assertThat(ok).as(m.name() + ": hostile checkpoints loaded (%d refused)", refused).isZero();
            }
        }
    }

    record Mutation(String name, boolean mustFail, java.util.function.BiFunction<Map<String, byte[]>, Rng, Map<String, byte[]>> fn) {
        Map<String, byte[]> apply(Map<String, byte[]> files, Rng rng) {
            return fn.apply(files, rng);
        }
    }

    private static final long[] HOSTILE_NUMBERS = {-1, 0, 1, 3, 7, 1 << 20, Integer.MAX_VALUE, 1L << 32, 1L << 40, Long.MAX_VALUE,
            Long.MIN_VALUE};

    private static long hostile(Rng rng) {
        return HOSTILE_NUMBERS[rng.nextInt(HOSTILE_NUMBERS.length)];
    }

    private static final List<Mutation> MUTATIONS = List.of(
            new Mutation("header-length", true, (f, rng) -> {
                byte[] st = f.get("model.safetensors").clone();
                long len = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).getLong();
                long bad = rng.nextInt(2) == 0 ? hostile(rng) : len + 1 + rng.nextInt(64);
                ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).putLong(0, bad == len ? -1 : bad);
                f.put("model.safetensors", st);
                return f;
            }),
            new Mutation("truncated-file", true, (f, rng) -> {
                byte[] st = f.get("model.safetensors");
                f.put("model.safetensors", java.util.Arrays.copyOf(st, rng.nextInt(st.length - 1)));
                return f;
            }),
            new Mutation("data-byte-flip", false, (f, rng) -> {
                byte[] st = f.get("model.safetensors").clone();
                long len = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).getLong();
                int at = (int) (8 + len + rng.nextInt((int) (st.length - 8 - len)));
                st[at] ^= (byte) (1 + rng.nextInt(255));
                f.put("model.safetensors", st);
                return f;
            }),
            new Mutation("header-byte-flip", false, (f, rng) -> {
                byte[] st = f.get("model.safetensors").clone();
                long len = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).getLong();
                st[8 + rng.nextInt((int) len)] = (byte) rng.nextInt(256);
                f.put("model.safetensors", st);
                return f;
            }),
            new Mutation("tensor-shape", true, (f, rng) -> editHeader(f, h -> {
                ObjectNode t = randomTensor(h, rng);
                ArrayNode shape = (ArrayNode) t.get("shape");
                int k = rng.nextInt(3);
                if (k == 0 && shape.size() > 0) {
                    shape.set(rng.nextInt(shape.size()), Json.MAPPER.getNodeFactory().numberNode(hostile(rng)));
                } else if (k == 1) {
                    shape.add(hostile(rng) == 1 ? 2 : hostile(rng));
                } else {
                    t.put("shape", "not an array");
                }
            })),
            new Mutation("tensor-offsets", true, (f, rng) -> editHeader(f, h -> {
                ObjectNode t = randomTensor(h, rng);
                ArrayNode r = (ArrayNode) t.get("data_offsets");
                int k = rng.nextInt(4);
                if (k == 0) {
                    r.set(1, Json.MAPPER.getNodeFactory().numberNode(hostile(rng)));
                } else if (k == 1) {
                    long b = r.get(0).asLong();
                    r.set(0, Json.MAPPER.getNodeFactory().numberNode(r.get(1).asLong()));
                    r.set(1, Json.MAPPER.getNodeFactory().numberNode(b)); // reversed
                } else if (k == 2) {
                    long shift = 4 + 4L * rng.nextInt(16); // overlaps a neighbour or runs past the end
                    r.set(0, Json.MAPPER.getNodeFactory().numberNode(r.get(0).asLong() + shift));
                    r.set(1, Json.MAPPER.getNodeFactory().numberNode(r.get(1).asLong() + shift));
                } else {
                    t.remove("data_offsets");
                }
            })),
            new Mutation("tensor-dtype", true, (f, rng) -> editHeader(f, h -> {
                String[] bad = {"F64", "I8", "BOOL", "U8", "", "F8_E4M3", "f32", "COMPLEX"};
                randomTensor(h, rng).put("dtype", bad[rng.nextInt(bad.length)]);
            })),
            new Mutation("tensor-renamed-or-missing", true, (f, rng) -> editHeader(f, h -> {
                String name = tensorNames(h).get(rng.nextInt(tensorNames(h).size()));
                JsonNode t = h.remove(name);
                if (rng.nextInt(2) == 0) {
                    h.set(name + ".evil", t);
                }
            })),
            new Mutation("header-not-json", true, (f, rng) -> {
                byte[] junk = new byte[1 + rng.nextInt(64)];
                for (int i = 0; i < junk.length; i++) {
                    junk[i] = (byte) rng.nextInt(256);
                }
                String[] shapes = {"[]", "null", "\"text\"", "{\"a\":", new String(junk, StandardCharsets.ISO_8859_1),
                        "[".repeat(5000) + "]".repeat(5000), "{\"x\":" + "{\"y\":".repeat(3000) + "1" + "}".repeat(3001)};
                return withHeader(f, shapes[rng.nextInt(shapes.length)].getBytes(StandardCharsets.UTF_8));
            }),
            new Mutation("config-dimensions", true, (f, rng) -> editConfig(f, c -> {
                String[] keys = {"vocab_size", "hidden_size", "n_embd", "num_hidden_layers", "n_layer", "num_attention_heads",
                        "n_head", "num_key_value_heads", "head_dim", "intermediate_size", "n_inner", "max_position_embeddings",
                        "n_positions"};
                List<String> present = new ArrayList<>();
                for (String k : keys) {
                    if (c.has(k)) {
                        present.add(k);
                    }
                }
                String k = present.get(rng.nextInt(present.size()));
                long[] invalid = {-1, 0, Integer.MAX_VALUE, 1L << 32, 1L << 40, Long.MAX_VALUE, Long.MIN_VALUE};
                long v = invalid[rng.nextInt(invalid.length)];
                if (rng.nextInt(5) == 0) {
                    c.put(k, "many");
                } else {
                    c.put(k, v);
                }
            })),
            new Mutation("config-values", true, (f, rng) -> editConfig(f, c -> {
                int k = rng.nextInt(5);
                if (k == 0) {
                    c.put("model_type", new String[] {"gpt_neox", "", "../llama", "bert"}[rng.nextInt(4)]);
                } else if (k == 1) {
                    c.put(c.has("rms_norm_eps") ? "rms_norm_eps" : "layer_norm_epsilon", rng.nextInt(2) == 0 ? -1e-5 : 0.0);
                } else if (k == 2 && c.path("model_type").asText().equals("gpt2")) {
                    c.put("scale_attn_by_inverse_layer_idx", true); // GPT-2 has no RoPE to scale
                } else if (k == 2) {
                    c.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0);
                } else if (k == 3) {
                    c.remove("model_type");
                } else if (c.has("activation_function")) {
                    c.put("activation_function", "relu");
                } else {
                    c.put("hidden_act", "relu6");
                }
            })),
            new Mutation("config-not-json", true, (f, rng) -> {
                f.put("config.json", new String[] {"", "{", "[]", "null", "{\"model_type\": 5}"}[rng.nextInt(5)].getBytes(StandardCharsets.UTF_8));
                return f;
            }),
            new Mutation("shard-index", true, (f, rng) -> {
                byte[] weights = f.remove("model.safetensors");
                ObjectNode index = Json.MAPPER.createObjectNode();
                ObjectNode map = index.putObject("weight_map");
                String[] targets = {"../../etc/passwd", "/etc/passwd", "model-00002.safetensors", "model.bin", "", "a\\b.safetensors"};
                String target = targets[rng.nextInt(targets.length)];
                map.put("transformer.wte.weight", target);
                map.put("model.embed_tokens.weight", target);
                if (rng.nextInt(2) == 0) {
                    f.put("model-00001.safetensors", weights);
                    map.put("lm_head.weight", "model-00001.safetensors");
                }
                f.put("model.safetensors.index.json", Json.write(index).getBytes(StandardCharsets.UTF_8));
                return f;
            }),
            // A header and a config that agree on an embedding far larger than the file: refused from the
            // file's size before anything is allocated for it.
            new Mutation("consistent-huge-tensor", true, (f, rng) -> {
                long vocab = 1_000_000 + rng.nextInt(3_000_000);
                editConfig(f, c -> c.put("vocab_size", vocab));
                return editHeader(f, h -> {
                    String name = h.has("transformer.wte.weight") ? "transformer.wte.weight" : "model.embed_tokens.weight";
                    ObjectNode t = (ObjectNode) h.get(name);
                    long width = t.get("shape").get(1).asLong();
                    int bytes = t.get("dtype").asText().equals("F32") ? 4 : 2;
                    long last = 0;
                    for (String n : tensorNames(h)) {
                        last = Math.max(last, h.get(n).get("data_offsets").get(1).asLong());
                    }
                    t.putArray("shape").add(vocab).add(width);
                    t.putArray("data_offsets").add(last).add(last + vocab * width * bytes);
                });
            }),
            new Mutation("no-weights", true, (f, rng) -> {
                f.remove("model.safetensors");
                if (rng.nextInt(2) == 0) {
                    f.put("pytorch_model.bin", new byte[] {1, 2, 3});
                }
                return f;
            }));

    private static List<String> tensorNames(ObjectNode h) {
        List<String> names = new ArrayList<>();
        h.fieldNames().forEachRemaining(n -> {
            if (!n.equals("__metadata__")) {
                names.add(n);
            }
        });
        return names;
    }

    private static ObjectNode randomTensor(ObjectNode h, Rng rng) {
        List<String> names = tensorNames(h);
        return (ObjectNode) h.get(names.get(rng.nextInt(names.size())));
    }

    private static Map<String, byte[]> editHeader(Map<String, byte[]> f, java.util.function.Consumer<ObjectNode> edit) {
        byte[] st = f.get("model.safetensors");
        long len = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ObjectNode h;
        try {
            h = (ObjectNode) Json.MAPPER.readTree(new String(st, 8, (int) len, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        edit.accept(h);
        return withHeader(f, Json.write(h).getBytes(StandardCharsets.UTF_8));
    }

    /** The same data under another header. */
    private static Map<String, byte[]> withHeader(Map<String, byte[]> f, byte[] header) {
        byte[] st = f.get("model.safetensors");
        long len = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).getLong();
        int dataStart = (int) (8 + len);
        ByteBuffer out = ByteBuffer.allocate(8 + header.length + st.length - dataStart).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(header.length).put(header).put(st, dataStart, st.length - dataStart);
        f.put("model.safetensors", out.array());
        return f;
    }

    private static Map<String, byte[]> editConfig(Map<String, byte[]> f, java.util.function.Consumer<ObjectNode> edit) {
        try {
            ObjectNode c = (ObjectNode) Json.MAPPER.readTree(f.get("config.json"));
            edit.accept(c);
            f.put("config.json", Json.write(c).getBytes(StandardCharsets.UTF_8));
            return f;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
