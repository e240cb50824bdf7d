package io.optune.operators.train;

/** When a policy version the trainer wrote becomes visible to generators and serving. */
public enum Publication {
    /**
     * At once (lowest lag). A failure rolls the trainer back to its last checkpoint, so versions it
     * announced since are trained again under new numbers: a consumer may have seen weights that the
     * recovered run never reaches.
     */
    IMMEDIATE,
    /**
     * When the checkpoint that contains the trainer past that version completes (two-phase, like
     * Flink's committing sinks): no consumer ever sees a version that a recovery redoes. Costs up to a
     * checkpoint interval plus the checkpoint's duration of lag.
     */
    ON_CHECKPOINT
}
