package io.optune.operators.records;

import io.optune.engine.tokenizer.ChatMessage;

import java.util.List;

/**
 * A validated prompt from the feed: plain {@code text}, or chat {@code messages} rendered with the
 * policy tokenizer's chat template (exactly one of the two; see {@code IngestFunction}).
 *
 * @param id stable prompt id: the key of its response memory
 * @param requestId the producer's id of this one arrival ({@code request_id}; empty when the record
 *     has none): the key of the prompt ledger, which accounts for every arrival exactly once
 * @param text prompt text; empty for a chat prompt
 * @param messages the chat turns (Flink serialises this list of records with its own list and POJO
 *     serialisers, no Kryo); empty for a text prompt
 * @param tenant optional tenant (empty when absent)
 * @param ingestTime processing time at ingest, epoch milliseconds
 */
public record Prompt(String id, String requestId, String text, List<ChatMessage> messages, String tenant, long ingestTime) {

    public Prompt {
        messages = messages == null ? List.of() : List.copyOf(messages);
    }

    /** A plain-text prompt. */
    public Prompt(String id, String requestId, String text, String tenant, long ingestTime) {
        this(id, requestId, text, List.of(), tenant, ingestTime);
    }

    public boolean isChat() {
        return !messages.isEmpty();
    }

    /** The prompt as a reader sees it: the text, or the messages as JSON (dead letters, logs). */
    public String display() {
        return isChat() ? io.optune.engine.Json.write(messages) : text;
    }
}
