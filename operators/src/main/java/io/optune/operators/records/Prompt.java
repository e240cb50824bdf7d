package io.optune.operators.records;

/**
 * A validated prompt from the feed.
 *
 * @param id stable prompt id: the key of its response memory
 * @param text prompt text
 * @param tenant optional tenant (empty when absent)
 * @param ingestTime processing time at ingest, epoch milliseconds
 */
public record Prompt(String id, String text, String tenant, long ingestTime) {}
