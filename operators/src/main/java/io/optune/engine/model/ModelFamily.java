package io.optune.engine.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The Hugging Face decoder families this engine runs, by their {@code model_type}. What differs
 * between them is small (norm, positions, projection layout, biases, q/k norms), so each family is a
 * handful of switches that drive the one {@link TransformerLM}.
 */
public enum ModelFamily {
    /** LayerNorm, learned positions, fused Conv1D {@code c_attn} stored [in, out], {@code gelu_new}, tied head. */
    GPT2("gpt2", "GPT2LMHeadModel", "GPT2ForSequenceClassification"),
    /** RMSNorm, RoPE, separate bias-free q/k/v/o, grouped-query attention, SwiGLU. */
    LLAMA("llama", "LlamaForCausalLM", "LlamaForSequenceClassification"),
    /** As Llama (its sliding window only matters beyond the window, which caps the context here). */
    MISTRAL("mistral", "MistralForCausalLM", "MistralForSequenceClassification"),
    /** As Llama with biases on q, k and v. */
    QWEN2("qwen2", "Qwen2ForCausalLM", "Qwen2ForSequenceClassification"),
    /** As Llama with an RMSNorm over each head of q and k before RoPE, and an explicit head_dim. */
    QWEN3("qwen3", "Qwen3ForCausalLM", "Qwen3ForSequenceClassification");

    private final String modelType;
    private final String causalLmClass;
    private final String classifierClass;

    ModelFamily(String modelType, String causalLmClass, String classifierClass) {
        this.modelType = modelType;
        this.causalLmClass = causalLmClass;
        this.classifierClass = classifierClass;
    }

    /** The {@code model_type} of {@code config.json}. */
    public String modelType() {
        return modelType;
    }

    /** The {@code architectures} entry transformers needs to load a causal LM (or a reward model). */
    public String architecture(boolean scalarHead) {
        return scalarHead ? classifierClass : causalLmClass;
    }

    /** Prefix of the trunk's tensor names: {@code transformer.} (GPT-2) or {@code model.}. */
    public String prefix() {
        return this == GPT2 ? "transformer." : "model.";
    }

    public boolean isGpt2() {
        return this == GPT2;
    }

    public static ModelFamily fromModelType(String modelType) {
        for (ModelFamily f : values()) {
            if (f.modelType.equals(modelType)) {
                return f;
            }
        }
        throw new UnsupportedModelException("unsupported model_type '" + modelType + "'; supported: "
                + Arrays.stream(values()).map(ModelFamily::modelType).collect(Collectors.joining(", ")));
    }
}
