package io.optune.jobs;

/**
 * Operator uids. Savepoints map state by these: never rename one that has been released.
 */
public final class Uids {
    public static final String PROMPT_SOURCE = "prompt-source";
    public static final String INGEST = "ingest";
    public static final String SELECT = "select-prompts";
    public static final String GENERATE = "generate";
    public static final String SCORE = "score";
    /** The score step against a remote reward service: the async operator, then the split into scored and dead letters. */
    public static final String SCORE_HTTP = "score-http";
    public static final String SCORE_MODEL = "score-model";
    public static final String SCORE_MODEL_SPLIT = "score-model-split";
    public static final String SCORE_HTTP_SPLIT = "score-http-split";
    public static final String PAIRS = "build-pairs";
    public static final String BATCH = "batch";
    public static final String TRAIN = "train";
    public static final String EVALUATE = "evaluate";
    public static final String EVALUATIONS_SINK = "evaluations";
    /** The weight log's announcements; "policy-updates" was Flink's FileSource (other state). */
    public static final String POLICY_UPDATE_SOURCE = "policy-updates-by-version";
    public static final String POLICY_UPDATE_TOPIC_SOURCE = "policy-updates-from-topic";
    public static final String PARSE_POLICY_UPDATES = "parse-policy-updates";
    /** The consuming feedback-directory source; "memory-feedback-source" was Flink's FileSource (other state). */
    public static final String MEMORY_FEEDBACK_SOURCE = "memory-feedback-consuming";
    public static final String PARSE_MEMORY_UPDATES = "parse-memory-updates";
    public static final String MEMORY_FEEDBACK_SINK = "memory-feedback-sink";
    public static final String DEAD_LETTER_SINK = "dead-letter-sink";
    public static final String POLICY_UPDATE_SINK = "policy-update-topic";
    public static final String PAIR_AUDIT_SINK = "pair-audit-sink";
    public static final String LEDGER_SINK = "prompt-ledger-sink";
    public static final String DEAD_LETTER_OUTCOMES = "dead-letter-outcomes";
    public static final String HASH_DEAD_LETTER_TEXT = "hash-dead-letter-text";
    public static final String HASH_AUDIT_TEXT = "hash-audit-text";
    public static final String AUDIT_RETENTION = "audit-retention";
    public static final String LEDGER_RETENTION = "ledger-retention";

    private Uids() {}
}
