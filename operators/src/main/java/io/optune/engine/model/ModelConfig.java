package io.optune.engine.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.Json;

/**
 * Shape and family of a decoder-only transformer, as a Hugging Face {@code config.json} describes
 * it. {@link #fromJson} reads the keys transformers reads for each family (GPT-2's {@code n_embd},
 * {@code n_layer}, ... and the Llama-style {@code hidden_size}, {@code num_key_value_heads},
 * {@code rope_theta}, ...) and refuses, naming the key, whatever this engine does not implement
 * (another {@code model_type}, RoPE scaling, MLP biases, ...), so a checkpoint either runs exactly as
 * transformers runs it or not at all. Serialised with Jackson it is that {@code config.json} again.
 *
 * @param family the decoder family
 * @param vocabSize tokens in the vocabulary (rows of the embedding)
 * @param contextLength longest prompt + response in tokens ({@code n_positions} /
 *     {@code max_position_embeddings}, capped to a sliding window if one is set)
 * @param width hidden size ({@code n_embd} / {@code hidden_size})
 * @param layers transformer blocks
 * @param heads query heads per block
 * @param kvHeads key/value heads per block (grouped-query attention when fewer than {@code heads})
 * @param headDim width of one head
 * @param intermediateSize MLP width
 * @param normEps epsilon of every LayerNorm / RMSNorm
 * @param ropeTheta RoPE base (ignored by GPT-2)
 * @param tiedEmbeddings whether the LM head is the token embedding
 * @param ropePrecision precision of the RoPE frequencies (float32 unless reproducing a model cast to
 *     a half type, see {@link RopePrecision}); not part of {@code config.json}
 */
public record ModelConfig(
        ModelFamily family,
        int vocabSize,
        int contextLength,
        int width,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int intermediateSize,
        float normEps,
        double ropeTheta,
        boolean tiedEmbeddings,
        RopePrecision ropePrecision) {

    /** Far above today's largest open models, far below what would overflow or exhaust a machine. */
    public static final int MAX_VOCAB = 1 << 22;
    public static final int MAX_CONTEXT = 1 << 22;
    public static final int MAX_WIDTH = 1 << 16;
    public static final int MAX_LAYERS = 1024;
    public static final int MAX_HEADS = 1024;
    public static final int MAX_HEAD_DIM = 1024;
    public static final int MAX_INTERMEDIATE = 1 << 18;

    public ModelConfig {
        if (ropePrecision == null) {
            ropePrecision = RopePrecision.FLOAT32;
        }
        if (family == null) {
            throw new IllegalArgumentException("model family missing");
        }
        if (vocabSize < 4 || contextLength < 2 || width < 1 || layers < 1 || heads < 1 || kvHeads < 1
                || headDim < 2 || intermediateSize < 1) {
            throw new IllegalArgumentException("invalid model config: vocab " + vocabSize + ", context " + contextLength
                    + ", width " + width + ", layers " + layers + ", heads " + heads + ", kv heads " + kvHeads
                    + ", head_dim " + headDim + ", intermediate " + intermediateSize + " (vocabulary needs at least 4 tokens)");
        }
        // config.json is untrusted input: refuse shapes no real model has before anything is sized by them.
        if (vocabSize > MAX_VOCAB || contextLength > MAX_CONTEXT || width > MAX_WIDTH || layers > MAX_LAYERS
                || heads > MAX_HEADS || kvHeads > MAX_HEADS || headDim > MAX_HEAD_DIM || intermediateSize > MAX_INTERMEDIATE) {
            throw new IllegalArgumentException("config describes a model outside the limits of this engine (vocab <= " + MAX_VOCAB
                    + ", context <= " + MAX_CONTEXT + ", width <= " + MAX_WIDTH + ", layers <= " + MAX_LAYERS + ", heads <= "
                    + MAX_HEADS + ", head_dim <= " + MAX_HEAD_DIM + ", intermediate <= " + MAX_INTERMEDIATE + "): vocab " + vocabSize
                    + ", context " + contextLength + ", width " + width + ", layers " + layers + ", heads " + heads + ", kv heads "
                    + kvHeads + ", head_dim " + headDim + ", intermediate " + intermediateSize);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("heads " + heads + " must be a multiple of key/value heads " + kvHeads);
        }
        if (family.isGpt2() && (heads * headDim != width || kvHeads != heads)) {
            throw new IllegalArgumentException("GPT-2 needs n_embd = n_head * head width and no grouped-query attention: width "
                    + width + ", heads " + heads + ", kv heads " + kvHeads + ", head width " + headDim);
        }
        if (!family.isGpt2() && headDim % 2 != 0) {
            throw new IllegalArgumentException("RoPE needs an even head_dim, got " + headDim);
        }
        if (!(normEps > 0) || !(ropeTheta > 0)) {
            throw new IllegalArgumentException("norm epsilon and rope_theta must be positive: " + normEps + ", " + ropeTheta);
        }
    }

    /** A GPT-2-format model (tied head, MLP 4 x width), the shape of the built-in task's policy. */
    public static ModelConfig gpt2(int vocabSize, int contextLength, int width, int layers, int heads) {
        if (width % heads != 0) {
            throw new IllegalArgumentException("width " + width + " must be divisible by heads " + heads);
        }
        return new ModelConfig(ModelFamily.GPT2, vocabSize, contextLength, width, layers, heads, heads,
                width / heads, 4 * width, 1e-5f, 10000.0, true, RopePrecision.FLOAT32);
    }

    /** The tiny default: about 0.4M parameters, trains on 2 CPU cores in minutes. */
    public static ModelConfig tiny(int vocabSize) {
        return gpt2(vocabSize, 64, 128, 2, 4);
    }

    /** Same as {@link #headDim()}; the older name. */
    public int headWidth() {
        return headDim;
    }

    /** Query heads served by each key/value head. */
    public int groups() {
        return heads / kvHeads;
    }

    /** True for the families with Conv1D projections stored [in, out] (GPT-2). */
    public boolean conv1d() {
        return family.isGpt2();
    }

    /** q, k and v projections carry a bias (GPT-2's fused {@code c_attn} and Qwen2). */
    public boolean qkvBias() {
        return family == ModelFamily.GPT2 || family == ModelFamily.QWEN2;
    }

    /** Qwen3's RMSNorm over each head of q and k. */
    public boolean qkNorm() {
        return family == ModelFamily.QWEN3;
    }

    /** A copy with another vocabulary size (for a tokenizer with more tokens). */
    public ModelConfig withVocabSize(int vocab) {
        return new ModelConfig(family, vocab, contextLength, width, layers, heads, kvHeads, headDim,
                intermediateSize, normEps, ropeTheta, tiedEmbeddings, ropePrecision);
    }

    /** A copy whose RoPE frequencies are rounded to {@code precision}. */
    public ModelConfig withRopePrecision(RopePrecision precision) {
        return new ModelConfig(family, vocabSize, contextLength, width, layers, heads, kvHeads, headDim,
                intermediateSize, normEps, ropeTheta, tiedEmbeddings, precision);
    }

    /** Parses a Hugging Face {@code config.json}. */
    public static ModelConfig fromJson(String json) {
        try {
            return fromJson(Json.MAPPER.readTree(json));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("config.json is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Parses a Hugging Face {@code config.json}. */
    @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
    public static ModelConfig fromJson(JsonNode c) {
        if (c == null || !c.isObject()) {
            throw new IllegalArgumentException("config.json must be a JSON object");
        }
        if (!c.hasNonNull("model_type")) {
            throw new UnsupportedModelException("config.json has no model_type");
        }
        ModelFamily family = ModelFamily.fromModelType(c.get("model_type").asText());
        int vocab = required(c, "vocab_size");
        return family.isGpt2() ? gpt2FromJson(c, vocab) : llamaLikeFromJson(c, family, vocab);
    }

    private static ModelConfig gpt2FromJson(JsonNode c, int vocab) {
        int width = required(c, "n_embd", "hidden_size");
        int heads = required(c, "n_head", "num_attention_heads");
        int layers = required(c, "n_layer", "num_hidden_layers");
        int context = required(c, "n_positions", "n_ctx", "max_position_embeddings");
        int inner = optional(c, "n_inner", 4 * width);
        String act = c.path("activation_function").asText("gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw new UnsupportedModelException("unsupported activation_function '" + act + "' (only gelu_new)");
        }
        refuseIfTrue(c, "scale_attn_by_inverse_layer_idx");
        refuseIfTrue(c, "add_cross_attention");
        if (width % heads != 0) {
            throw new IllegalArgumentException("n_embd " + width + " is not divisible by n_head " + heads);
        }
        float eps = (float) c.path("layer_norm_epsilon").asDouble(1e-5);
        boolean tied = c.path("tie_word_embeddings").asBoolean(true);
        if (!tied) {
            throw new UnsupportedModelException("GPT-2 with tie_word_embeddings false is not supported");
        }
        return new ModelConfig(ModelFamily.GPT2, vocab, context, width, layers, heads, heads, width / heads,
                inner, eps, 10000.0, true, RopePrecision.FLOAT32);
    }

    private static ModelConfig llamaLikeFromJson(JsonNode c, ModelFamily family, int vocab) {
        int width = required(c, "hidden_size");
        int layers = required(c, "num_hidden_layers");
        int heads = required(c, "num_attention_heads");
        int kvHeads = optional(c, "num_key_value_heads", heads);
        int headDim = optional(c, "head_dim", width / heads);
        int inner = required(c, "intermediate_size");
        int context = required(c, "max_position_embeddings");
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new UnsupportedModelException("unsupported hidden_act '" + act + "' (only silu)");
        }
        refuseIfTrue(c, "mlp_bias");
        if (family != ModelFamily.QWEN2) {
            // Qwen2 always has q/k/v biases; elsewhere attention_bias also adds one to o_proj, not implemented.
            refuseIfTrue(c, "attention_bias");
        }
        double theta = 10000.0;
        JsonNode rope = c.get("rope_parameters");
        if (rope != null && rope.isObject()) {
            checkRopeType(rope, "rope_parameters");
            theta = rope.path("rope_theta").asDouble(theta);
        }
        if (c.hasNonNull("rope_theta")) {
            theta = c.get("rope_theta").asDouble();
        }
        JsonNode scaling = c.get("rope_scaling");
        if (scaling != null && !scaling.isNull()) {
            checkRopeType(scaling, "rope_scaling");
        }
        boolean windowed = family == ModelFamily.MISTRAL || c.path("use_sliding_window").asBoolean(false);
        if (windowed && c.hasNonNull("sliding_window")) {
            // Attention over at most the window is exact as long as no sequence is longer than it.
            context = Math.min(context, optional(c, "sliding_window", context));
        }
        float eps = (float) c.path("rms_norm_eps").asDouble(1e-6);
        boolean tied = c.path("tie_word_embeddings").asBoolean(false);
        RopePrecision precision;
        try {
            precision = RopePrecision.valueOf(c.path("optune_rope_precision").asText("FLOAT32"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config.json optune_rope_precision is not one of " + java.util.Arrays.toString(RopePrecision.values()));
        }
        return new ModelConfig(family, vocab, context, width, layers, heads, kvHeads, headDim, inner, eps, theta, tied, precision);
    }

    private static void checkRopeType(JsonNode rope, String key) {
        String type = rope.hasNonNull("rope_type") ? rope.get("rope_type").asText() : rope.path("type").asText("default");
        if (!type.equals("default")) {
            throw new UnsupportedModelException("unsupported " + key + " type '" + type + "' (only default RoPE)");
        }
        if (rope.hasNonNull("factor") && rope.get("factor").asDouble() != 1.0) {
            throw new UnsupportedModelException("unsupported " + key + " factor " + rope.get("factor").asDouble());
        }
    }

    private static void refuseIfTrue(JsonNode c, String key) {
        if (c.path(key).asBoolean(false)) {
            throw new UnsupportedModelException("unsupported config: " + key + " = true");
        }
    }

    /** An optional integer key: absent is the default, anything but an int is an error. */
    private static int optional(JsonNode c, String key, int dflt) {
        return c.hasNonNull(key) ? required(c, key) : dflt;
    }

    private static int required(JsonNode c, String... keys) {
        for (String k : keys) {
            if (c.hasNonNull(k)) {
                if (!c.get(k).isIntegralNumber() || !c.get(k).canConvertToInt() || c.get(k).asInt() < 1) {
                    throw new IllegalArgumentException("config.json key '" + k + "' is not a positive integer: " + c.get(k));
                }
                return c.get(k).asInt();
            }
        }
        throw new IllegalArgumentException("config.json lacks '" + String.join("' / '", keys) + "'");
    }

    /** This config as a Hugging Face {@code config.json} (for a causal LM). */
    @JsonValue
    public ObjectNode toJson() {
        return toJson(false);
    }

    /** As {@link #toJson()}; with {@code scalarHead} for a one-label sequence classifier (a reward model). */
    public ObjectNode toJson(boolean scalarHead) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.putArray("architectures").add(family.architecture(scalarHead));
        o.put("model_type", family.modelType());
        o.put("vocab_size", vocabSize);
        if (family.isGpt2()) {
            o.put("n_embd", width);
            o.put("n_layer", layers);
            o.put("n_head", heads);
            o.put("n_inner", intermediateSize);
            o.put("n_positions", contextLength);
            o.put("layer_norm_epsilon", normEps);
            o.put("activation_function", "gelu_new");
            o.put("resid_pdrop", 0.0);
            o.put("embd_pdrop", 0.0);
            o.put("attn_pdrop", 0.0);
        } else {
            o.put("hidden_size", width);
            o.put("num_hidden_layers", layers);
            o.put("num_attention_heads", heads);
            o.put("num_key_value_heads", kvHeads);
            o.put("head_dim", headDim);
            o.put("intermediate_size", intermediateSize);
            o.put("max_position_embeddings", contextLength);
            o.put("rms_norm_eps", normEps);
            o.put("hidden_act", "silu");
            o.put("rope_theta", ropeTheta);
            ObjectNode rope = o.putObject("rope_parameters");
            rope.put("rope_type", "default");
            rope.put("rope_theta", ropeTheta);
            o.put("attention_bias", family == ModelFamily.QWEN2);
            o.putNull("sliding_window");
            o.put("use_sliding_window", false);
            if (ropePrecision != RopePrecision.FLOAT32) {
                o.put("optune_rope_precision", ropePrecision.name()); // ours; transformers ignores it
            }
        }
        o.put("tie_word_embeddings", tiedEmbeddings);
        if (scalarHead) {
            o.put("num_labels", 1);
        }
        return o;
    }
}
