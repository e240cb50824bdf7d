package io.optune.operators.records;

/** A prompt's new response memory, fed back from the pair step to the select step. */
public record MemoryUpdate(String promptId, StoredPair memory) {}
