package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.Json;
import io.optune.engine.model.Batches;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.ModelFamily;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.model.UnsupportedModelException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HfCheckpointTest {
    @TempDir
    Path tmp;

    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    private static final GenerationSettings GEN = new GenerationSettings(List.of(2, 3), 0, 1);

    private float[] logits(TransformerLM model) {
        try (NDManager m = manager.newSubManager()) {
            Batches.Inputs in = Batches.rightPadded(m, List.of(new int[] {1, 5, 9, 4, 7}, new int[] {1, 6}), 0);
            return model.logits(model.hidden(in.tokens(), in.positions(), in.bias(), null)).toFloatArray();
        }
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void exportedCheckpointsReloadWithIdenticalLogits(ModelFamily family) throws IOException {
        try (TransformerLM model = EngineTestSupport.sharpModel(family, manager, 3)) {
            LocalCheckpointFiles dir = new LocalCheckpointFiles(tmp.resolve(family.modelType()));
            HfCheckpointWriter.write(model, GEN, dir, SafeTensorsStream.Dtype.F32);
            HfCheckpoint.Loaded loaded = HfCheckpoint.load(dir, manager);
            try (TransformerLM back = loaded.model()) {
                assertThat(back.config()).isEqualTo(model.config());
                assertThat(logits(back)).containsExactly(logits(model));
                assertThat(loaded.generation()).isEqualTo(GEN);
            }
            try (var in = dir.open(HfCheckpoint.WEIGHTS)) {
                SafeTensorsStream.Header h = SafeTensorsStream.readHeader(in, "written");
                assertThat(h.get("lm_head.weight") != null).as("lm_head written").isEqualTo(!model.config().tiedEmbeddings());
                assertThat(h.metadata()).containsEntry("format", "pt");
            }
        }
    }

    @Test
    void halfPrecisionExportsRoundEachWeightOnce() throws IOException {
        try (TransformerLM model = EngineTestSupport.sharpModel(ModelFamily.QWEN3, manager, 4)) {
            for (SafeTensorsStream.Dtype dtype : List.of(SafeTensorsStream.Dtype.BF16, SafeTensorsStream.Dtype.F16)) {
                LocalCheckpointFiles dir = new LocalCheckpointFiles(tmp.resolve(dtype.name()));
                HfCheckpointWriter.write(model, GEN, dir, dtype);
                assertThat(Json.MAPPER.readTree(dir.dir().resolve("config.json").toFile()).get("torch_dtype").asText())
                        .isEqualTo(HfCheckpointWriter.torchName(dtype));
                try (TransformerLM back = HfCheckpoint.load(dir, manager).model()) {
                    float[] original = model.parameters().get("model.layers.0.self_attn.q_proj.weight").toFloatArray();
                    float[] stored = back.parameters().get("model.layers.0.self_attn.q_proj.weight").toFloatArray();
                    for (int i = 0; i < original.length; i++) {
                        float expected = dtype == SafeTensorsStream.Dtype.BF16
                                ? Float.intBitsToFloat(SafeTensorsStream.floatToBf16(original[i]) << 16)
                                : SafeTensorsStream.roundToHalf(original[i]);
                        assertThat(stored[i]).isEqualTo(expected);
                    }
                }
            }
        }
    }

    @Test
    void halfFloatConversionIsExactOnRepresentableValues() {
        for (float f : new float[] {0f, -0f, 1f, -2.5f, 65504f, 6.1035156e-5f, 5.9604645e-8f, Float.POSITIVE_INFINITY}) {
            assertThat(SafeTensorsStream.halfToFloat(SafeTensorsStream.floatToHalf(f))).isEqualTo(f);
        }
        assertThat(SafeTensorsStream.roundToHalf(1.0004883f)).isEqualTo(1f); // ties to even
        assertThat(Float.isNaN(SafeTensorsStream.halfToFloat(SafeTensorsStream.floatToHalf(Float.NaN)))).isTrue();
    }

    @Test
    void shardedCheckpointsLoad() throws IOException {
        try (TransformerLM model = EngineTestSupport.sharpModel(ModelFamily.LLAMA, manager, 5)) {
            LocalCheckpointFiles dir = new LocalCheckpointFiles(tmp.resolve("sharded"));
            HfCheckpointWriter.write(model, GEN, dir, SafeTensorsStream.Dtype.F32);
            Files.delete(dir.dir().resolve(HfCheckpoint.WEIGHTS));
            Map<String, NDArray> first = new LinkedHashMap<>();
            Map<String, NDArray> second = new LinkedHashMap<>();
            StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
            int i = 0;
            for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
                boolean a = i++ % 2 == 0;
                (a ? first : second).put(e.getKey(), e.getValue());
                String shard = a ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
                index.append(i > 1 ? "," : "").append('"').append(e.getKey()).append("\": \"").append(shard).append('"');
            }
            index.append("}}");
            Files.writeString(dir.dir().resolve(HfCheckpoint.INDEX), index);
            try (OutputStream out = dir.create("model-00001-of-00002.safetensors")) {
                SafeTensorsStream.write(out, first, Map.of("format", "pt"), SafeTensorsStream.Dtype.F32);
            }
            try (OutputStream out = dir.create("model-00002-of-00002.safetensors")) {
                SafeTensorsStream.write(out, second, Map.of("format", "pt"), SafeTensorsStream.Dtype.BF16);
            }
            try (TransformerLM back = HfCheckpoint.load(dir, manager).model()) {
                String name = first.keySet().iterator().next();
                assertThat(back.parameters().get(name).toFloatArray()).containsExactly(model.parameters().get(name).toFloatArray());
            }
        }
    }

    @Test
    void gpt2FilesWithoutThePrefixAndWithAttentionBuffersLoad() throws IOException {
        try (TransformerLM model = EngineTestSupport.smallModel(manager, 6); NDManager m = manager.newSubManager()) {
            LocalCheckpointFiles dir = new LocalCheckpointFiles(tmp.resolve("gpt2-official"));
            HfCheckpointWriter.write(model, GEN, dir, SafeTensorsStream.Dtype.F32);
            Map<String, NDArray> renamed = new LinkedHashMap<>();
            model.parameters().forEach((k, v) -> renamed.put(k.substring("transformer.".length()), v));
            renamed.put("h.0.attn.bias", m.ones(new ai.djl.ndarray.types.Shape(1, 1, 4, 4)));
            renamed.put("h.0.attn.masked_bias", m.full(new ai.djl.ndarray.types.Shape(), -1e4f));
            renamed.put("lm_head.weight", model.parameters().get("transformer.wte.weight"));
            try (OutputStream out = dir.create(HfCheckpoint.WEIGHTS)) {
                SafeTensorsStream.write(out, renamed, Map.of("format", "pt"), SafeTensorsStream.Dtype.F32);
            }
            try (TransformerLM back = HfCheckpoint.load(dir, manager).model()) {
                assertThat(logits(back)).containsExactly(logits(model));
            }
        }
    }

    @Test
    void aMissingTensorIsNamed() throws IOException {
        try (TransformerLM model = EngineTestSupport.sharpModel(ModelFamily.QWEN2, manager, 7)) {
            LocalCheckpointFiles dir = new LocalCheckpointFiles(tmp.resolve("missing"));
            HfCheckpointWriter.write(model, GEN, dir, SafeTensorsStream.Dtype.F32);
            Map<String, NDArray> some = new LinkedHashMap<>(model.parameters());
            some.remove("model.layers.1.self_attn.k_proj.bias");
            try (OutputStream out = dir.create(HfCheckpoint.WEIGHTS)) {
                SafeTensorsStream.write(out, some, Map.of(), SafeTensorsStream.Dtype.F32);
            }
            assertThatThrownBy(() -> HfCheckpoint.load(dir, manager))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessageContaining("model.layers.1.self_attn.k_proj.bias");
        }
    }

    @Test
    void aShapeThatDisagreesWithTheConfigIsRefusedBeforeReading() throws IOException {
        try (TransformerLM model = EngineTestSupport.sharpModel(ModelFamily.LLAMA, manager, 8)) {
            LocalCheckpointFiles dir = new LocalCheckpointFiles(tmp.resolve("shape"));
            HfCheckpointWriter.write(model, GEN, dir, SafeTensorsStream.Dtype.F32);
            ModelConfig other = model.config().withVocabSize(model.config().vocabSize() + 1);
            Files.writeString(dir.dir().resolve("config.json"), Json.write(other));
            assertThatThrownBy(() -> HfCheckpoint.load(dir, manager))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessageContaining("model.embed_tokens.weight").hasMessageContaining("config.json needs");
        }
    }

    @Test
    void unsupportedFamiliesAndOptionsAreNamed() {
        assertThatThrownBy(() -> ModelConfig.fromJson("{\"model_type\": \"falcon\", \"vocab_size\": 10}"))
                .isInstanceOf(UnsupportedModelException.class).hasMessageContaining("'falcon'");
        String llama = "{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
                + " \"num_attention_heads\": 2, \"intermediate_size\": 16, \"max_position_embeddings\": 32,";
        assertThatThrownBy(() -> ModelConfig.fromJson(llama + " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}"))
                .isInstanceOf(UnsupportedModelException.class).hasMessageContaining("llama3");
        assertThatThrownBy(() -> ModelConfig.fromJson(llama + " \"mlp_bias\": true}"))
                .isInstanceOf(UnsupportedModelException.class).hasMessageContaining("mlp_bias");
        assertThatThrownBy(() -> ModelConfig.fromJson(llama + " \"hidden_act\": \"gelu\"}"))
                .isInstanceOf(UnsupportedModelException.class).hasMessageContaining("gelu");
        ModelConfig ok = ModelConfig.fromJson(llama + " \"rope_theta\": 500000.0, \"num_key_value_heads\": 1}");
        assertThat(ok.ropeTheta()).isEqualTo(500000.0);
        assertThat(ok.kvHeads()).isEqualTo(1);
        assertThat(ok.headDim()).isEqualTo(4);
        ModelConfig mistral = ModelConfig.fromJson(llama.replace("llama", "mistral") + " \"sliding_window\": 16}");
        assertThat(mistral.contextLength()).isEqualTo(16);
        assertThat(ModelConfig.fromJson(Json.write(ok))).isEqualTo(ok);
    }

    @Test
    void headersAreValidatedBeforeAnythingIsAllocated() {
        assertThatThrownBy(() -> header("{\"a\": {\"dtype\": \"I8\", \"shape\": [2], \"data_offsets\": [0, 2]}}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("dtype I8");
        assertThatThrownBy(() -> header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("does not match its shape");
        assertThatThrownBy(() -> header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("overlaps");
        byte[] hugeLength = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array();
        assertThatThrownBy(() -> SafeTensorsStream.readHeader(new ByteArrayInputStream(hugeLength), "x"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("header length");
    }

    @Test
    void truncatedDataIsRefused() throws IOException {
        try (NDManager m = manager.newSubManager()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            SafeTensorsStream.write(out, Map.of("a", m.arange(10f)), Map.of(), SafeTensorsStream.Dtype.F32);
            byte[] bytes = out.toByteArray();
            byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 3);
            ByteArrayInputStream in = new ByteArrayInputStream(cut);
            SafeTensorsStream.Header h = SafeTensorsStream.readHeader(in, "cut");
            assertThatThrownBy(() -> SafeTensorsStream.readTensors(in, h, "cut", m, n -> true, (n, a) -> { }))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("truncated");
        }
    }

    /** Tensors larger than one staging block are read in row blocks and joined; values unchanged. */
    @Test
    void largeTensorsAreReadInBlocks() throws IOException {
        try (NDManager m = manager.newSubManager()) {
            NDArray big = m.randomNormal(new ai.djl.ndarray.types.Shape(37, 5));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            SafeTensorsStream.write(out, Map.of("big", big), Map.of(), SafeTensorsStream.Dtype.F32);
            ByteArrayInputStream in = new ByteArrayInputStream(out.toByteArray());
            SafeTensorsStream.Header h = SafeTensorsStream.readHeader(in, "big");
            List<NDArray> got = new ArrayList<>();
            SafeTensorsStream.readTensors(in, h, "big", m, n -> true, (n, a) -> got.add(a), 3 * 5 * 4);
            assertThat(got.get(0).getShape()).isEqualTo(big.getShape());
            assertThat(got.get(0).toFloatArray()).containsExactly(big.toFloatArray());
        }
    }

    private static SafeTensorsStream.Header header(String json) throws IOException {
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + j.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(j.length).put(j);
        return SafeTensorsStream.readHeader(new ByteArrayInputStream(b.array()), "test");
    }
}
