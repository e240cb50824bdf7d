package io.optune.engine.generate;

/**
 * How responses are sampled.
 *
 * @param temperature softmax temperature; 0 means greedy (argmax)
 * @param topP nucleus sampling mass in (0, 1]; 1 disables it
 * @param maxNewTokens response length limit (EOS included); also capped by the context length
 * @param samplesPerPrompt K responses drawn for every prompt
 */
public record SamplingConfig(float temperature, float topP, int maxNewTokens, int samplesPerPrompt) implements java.io.Serializable {
    public SamplingConfig {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0: " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1]: " + topP);
        }
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("maxNewTokens must be >= 1: " + maxNewTokens);
        }
        if (samplesPerPrompt < 1) {
            throw new IllegalArgumentException("samplesPerPrompt must be >= 1: " + samplesPerPrompt);
        }
    }

    public static SamplingConfig greedy(int maxNewTokens) {
        return new SamplingConfig(0f, 1f, maxNewTokens, 1);
    }

    public SamplingConfig withSamples(int k) {
        return new SamplingConfig(temperature, topP, maxNewTokens, k);
    }
}
