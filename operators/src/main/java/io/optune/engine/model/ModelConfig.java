package io.optune.engine.model;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Shape of a decoder-only transformer. Field names follow GPT-2's {@code config.json}
 * ({@code vocab_size}, {@code n_positions}, {@code n_embd}, {@code n_layer}, {@code n_head}) so a
 * Hugging Face GPT-2 config parses into this record as is; unknown keys are ignored.
 *
 * @param vocabSize tokens in the vocabulary
 * @param contextLength maximum prompt + response length in tokens
 * @param width model (embedding) width; must be divisible by {@code heads}
 * @param layers transformer blocks
 * @param heads attention heads per block
 * @param layerNormEps epsilon of every layer norm
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ModelConfig(
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("n_positions") int contextLength,
        @JsonProperty("n_embd") int width,
        @JsonProperty("n_layer") int layers,
        @JsonProperty("n_head") int heads,
        @JsonProperty("layer_norm_epsilon") float layerNormEps) {

    public ModelConfig {
        if (vocabSize < 4 || contextLength < 2 || width < 1 || layers < 1 || heads < 1) {
            throw new IllegalArgumentException("invalid model config: " + this);
        }
        if (width % heads != 0) {
            throw new IllegalArgumentException(
                    "width " + width + " must be divisible by heads " + heads);
        }
        if (!(layerNormEps > 0)) {
            throw new IllegalArgumentException("layer_norm_epsilon must be positive");
        }
    }

    /** The tiny default: about 0.4M parameters, trains on 2 CPU cores in minutes. */
    public static ModelConfig tiny(int vocabSize) {
        return new ModelConfig(vocabSize, 64, 128, 2, 4, 1e-5f);
    }

    public int headWidth() {
        return width / heads;
    }
}
