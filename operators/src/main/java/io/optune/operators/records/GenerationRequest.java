package io.optune.operators.records;

/**
 * A prompt selected for regeneration, carrying the memory it had when selected (null for a new
 * prompt) so that the pair step can merge without reading keyed state.
 */
public record GenerationRequest(Prompt prompt, StoredPair memory, long selectedAt) {}
