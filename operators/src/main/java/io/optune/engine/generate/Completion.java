package io.optune.engine.generate;

/**
 * One sampled response.
 *
 * @param promptIndex index of its prompt in the request
 * @param tokens response ids, ending with EOS when {@code finished}
 * @param finished whether the response ended with EOS (rather than the length limit)
 */
public record Completion(int promptIndex, int[] tokens, boolean finished) {}
