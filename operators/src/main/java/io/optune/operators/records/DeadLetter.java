package io.optune.operators.records;

/**
 * A record that could not be processed, kept with the reason instead of being dropped.
 *
 * @param requestId the arrival it belongs to, when known (see {@link Prompt#requestId()})
 * @param promptId the prompt, when known
 * @param stage the step that refused it ("ingest", "score", ...)
 * @param reason short stable code ("malformed-json", "empty-prompt", "reward-timeout", ...)
 * @param detail readable explanation
 * @param payload the offending input, truncated to a few kilobytes
 * @param time epoch milliseconds
 */
public record DeadLetter(String requestId, String promptId, String stage, String reason, String detail, String payload, long time) {

    public static final int MAX_PAYLOAD = 4096;

    /** A dead letter of a prompt that was parsed: keeps its ids for the ledger. */
    public static DeadLetter of(Prompt prompt, String stage, String reason, String detail) {
        return of(prompt.requestId(), prompt.id(), stage, reason, detail, prompt.display());
    }

    public static DeadLetter of(String requestId, String promptId, String stage, String reason, String detail, String payload) {
        String p = payload == null ? "" : payload;
        if (p.length() > MAX_PAYLOAD) {
            p = p.substring(0, MAX_PAYLOAD) + "...(" + payload.length() + " chars)";
        }
        return new DeadLetter(requestId == null ? "" : requestId, promptId == null ? "" : promptId, stage, reason, detail, p, System.currentTimeMillis());
    }
}
