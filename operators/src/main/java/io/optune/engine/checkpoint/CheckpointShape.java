package io.optune.engine.checkpoint;

import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.ModelFamily;
import io.optune.engine.model.RopePrecision;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * Named model shapes for smoke runs and benchmarks (there is no model hub here): the published
 * architectures' sizes, randomly initialised by {@link RandomCheckpointMain}.
 */
public enum CheckpointShape {
    /** GPT-2 small: 124M parameters with its 50257-token vocabulary. */
    GPT2_SMALL("gpt2-small", 50257) {
        @Override
        public ModelConfig config(int vocab) {
            return ModelConfig.gpt2(vocab, 1024, 768, 12, 12);
        }
    },
    /** A 6-layer, 384-wide GPT-2 (about 30M parameters with GPT-2's vocabulary). */
    GPT2_MINI("gpt2-mini", 50257) {
        @Override
        public ModelConfig config(int vocab) {
            return ModelConfig.gpt2(vocab, 512, 384, 6, 6);
        }
    },
    /** A small Llama: 8 layers of 512 with grouped-query attention (8 query, 4 key/value heads), untied. */
    LLAMA_SMALL("llama-small", 32000) {
        @Override
        public ModelConfig config(int vocab) {
            return new ModelConfig(ModelFamily.LLAMA, vocab, 2048, 512, 8, 8, 4, 64, 1376, 1e-5f, 10000.0, false,
                    RopePrecision.FLOAT32);
        }
    },
    /** A small Qwen3: 8 layers of 512, head_dim 64, q/k norms, tied, rope_theta 1e6. */
    QWEN3_SMALL("qwen3-small", 151936) {
        @Override
        public ModelConfig config(int vocab) {
            return new ModelConfig(ModelFamily.QWEN3, vocab, 4096, 512, 8, 8, 4, 64, 1536, 1e-6f, 1_000_000.0, true,
                    RopePrecision.FLOAT32);
        }
    };

    private final String id;
    private final int defaultVocab;

    CheckpointShape(String id, int defaultVocab) {
        this.id = id;
        this.defaultVocab = defaultVocab;
    }

    public String id() {
        return id;
    }

    public int defaultVocab() {
        return defaultVocab;
    }

    public abstract ModelConfig config(int vocab);

    public static CheckpointShape of(String id) {
        for (CheckpointShape s : values()) {
            if (s.id.equals(id)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown shape '" + id + "'; known: "
                + Arrays.stream(values()).map(CheckpointShape::id).collect(Collectors.joining(", ")));
    }
}
