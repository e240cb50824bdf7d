package io.optune.operators.records;

/**
 * A validated prompt from the feed.
 *
 * @param id stable prompt id: the key of its response memory
 * @param requestId the producer's id of this one arrival ({@code request_id}; empty when the record
 *     has none): the key of the prompt ledger, which accounts for every arrival exactly once
 * @param text prompt text
 * @param tenant optional tenant (empty when absent)
 * @param ingestTime processing time at ingest, epoch milliseconds
 */
public record Prompt(String id, String requestId, String text, String tenant, long ingestTime) {}
