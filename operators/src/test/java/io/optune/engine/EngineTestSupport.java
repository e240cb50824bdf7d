package io.optune.engine;

import ai.djl.ndarray.NDManager;
import io.optune.engine.model.ModelConfig;
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
}
