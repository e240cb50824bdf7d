package io.optune.operators.records;

/**
 * K responses to one prompt, made by one policy version.
 *
 * @param tokens response tokens generated (for throughput metrics)
 */
public record Generation(GenerationRequest request, String[] responses, long policyVersion, int tokens) {}
