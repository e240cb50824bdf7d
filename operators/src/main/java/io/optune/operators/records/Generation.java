package io.optune.operators.records;

/**
 * K responses to one prompt, made by one policy version.
 *
 * @param promptIds the prompt's token ids exactly as fed to the policy (BOS or chat template
 *     markup included): training pairs reuse them, the prompt is never encoded again
 * @param responses the sampled responses, with their ids, sampling log-probs and decoded text
 * @param policyVersion the version that sampled them
 * @param tokens response tokens generated (for throughput metrics)
 */
public record Generation(GenerationRequest request, int[] promptIds, SampledResponse[] responses, long policyVersion, int tokens) {}
