package io.optune.operators.records;

import org.apache.flink.util.OutputTag;

/**
 * One line of the prompt ledger: what became of one prompt arrival. Every arrival ends in exactly
 * one outcome, written by the step that ends its path; with the ledger's exactly-once sink, the
 * committed ledger accounts for each arrival once across failures and restarts.
 *
 * @param requestId the arrival ({@link Prompt#requestId()}; empty when the producer gave none)
 * @param promptId the prompt (empty for records refused before an id was read)
 * @param outcome how the arrival ended
 * @param fresh for {@link Outcome#TRAINED}: true when the pair came from new responses, false when
 *     a stored pair was reused
 * @param stage the step that wrote this line ("ingest", "select", "generate", "score", "pair", "train")
 * @param reason why it was skipped or dead-lettered; empty when trained
 * @param step for {@link Outcome#TRAINED}: the trainer step that consumed the pair; else 0
 * @param time epoch milliseconds
 */
public record PromptOutcome(String requestId, String promptId, Outcome outcome, boolean fresh, String stage, String reason,
        long step, long time) {

    /** How an arrival ended. */
    public enum Outcome {
        /** Its pair (fresh or reused) went into a trainer step. */
        TRAINED,
        /** No training signal: e.g. all responses scored alike, or the trainer refused the pair. */
        SKIPPED,
        /** Refused as bad input or failed processing; the dead-letter sink has the record. */
        DEAD_LETTERED
    }

    /** The side output every step writes its ledger lines to. */
    public static final OutputTag<PromptOutcome> LEDGER = new OutputTag<>("prompt-ledger") {};

    public static PromptOutcome trained(PreferencePair p, long step) {
        return new PromptOutcome(p.requestId(), p.promptId(), Outcome.TRAINED, p.fresh(), "train", "", step, System.currentTimeMillis());
    }

    public static PromptOutcome skipped(String requestId, String promptId, String stage, String reason) {
        return new PromptOutcome(requestId, promptId, Outcome.SKIPPED, false, stage, reason, 0L, System.currentTimeMillis());
    }

    public static PromptOutcome of(DeadLetter d) {
        return new PromptOutcome(d.requestId(), d.promptId(), Outcome.DEAD_LETTERED, false, d.stage(), d.reason(), 0L, d.time());
    }
}
