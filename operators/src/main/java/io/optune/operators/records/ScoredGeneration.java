package io.optune.operators.records;

/** A {@link Generation} with one reward per response (all finite). */
public record ScoredGeneration(Generation generation, double[] rewards) {}
