package io.optune.engine.generate;

/**
 * One sampled response.
 *
 * @param promptIndex index of its prompt in the request
 * @param tokens response ids exactly as sampled: ending with the EOS id that stopped it when
 *     {@code finished}, with no EOS when the length limit cut it
 * @param logProbs per token, the log-probability it had under the distribution it was drawn from
 *     (temperature-scaled and top-p renormalised; 0 for greedy decoding, which is deterministic)
 * @param finished whether the response ended with an EOS id (rather than the length limit)
 */
public record Completion(int promptIndex, int[] tokens, float[] logProbs, boolean finished) {}
