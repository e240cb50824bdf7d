package io.optune.operators.records;

/** Pairs for one training step, with the time the batch was closed. */
public record PreferenceBatch(PreferencePair[] pairs, long closedAt) {}
