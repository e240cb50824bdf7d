package io.optune.engine;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDArray;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.ModelFamily;
import io.optune.engine.model.RopePrecision;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.CharTokenizer;

/** Small shared fixtures for engine tests. */
public final class EngineTestSupport {
    public static final CharTokenizer TOKENIZER = new CharTokenizer();
    public static final PromptEncoder ENCODER = new PromptEncoder(TOKENIZER, 24);

    private EngineTestSupport() {}

    /** A very small model so tests run in milliseconds. */
    public static ModelConfig smallConfig() {
        return ModelConfig.gpt2(TOKENIZER.vocabSize(), 32, 32, 2, 4);
    }

    public static TransformerLM smallModel(NDManager manager, long seed) {
        return TransformerLM.create(smallConfig(), manager, seed, false);
    }

    /**
     * A very small model of {@code family}: Llama-like ones with grouped-query attention (4 query
     * heads, 2 key/value heads), Llama untied, Qwen3 with a head_dim that is not width / heads.
     */
    public static ModelConfig smallConfig(ModelFamily family) {
        if (family == ModelFamily.GPT2) {
            return smallConfig();
        }
        int headDim = family == ModelFamily.QWEN3 ? 12 : 8;
        boolean tied = family != ModelFamily.LLAMA;
        return new ModelConfig(family, TOKENIZER.vocabSize(), 32, 32, 2, 4, 2, headDim, 64, 1e-6f, 10000.0,
                tied, RopePrecision.FLOAT32);
    }

    /**
     * A small model whose weights are scaled up (std about 0.3, like the transformers fixtures), so
     * that positions, masks and caches visibly change its outputs.
     */
    public static TransformerLM sharpModel(ModelFamily family, NDManager manager, long seed) {
        TransformerLM model = TransformerLM.create(smallConfig(family), manager, seed, false);
        try (NDManager tmp = manager.newSubManager()) {
            NDArray scale = tmp.full(new ai.djl.ndarray.types.Shape(), 15f);
            model.parameters().forEach((name, p) -> {
                if (p.getShape().dimension() == 2) {
                    p.muli(scale);
                }
            });
        }
        return model;
    }
}
