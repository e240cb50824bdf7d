package io.optune.operators.records;

import io.optune.engine.snapshot.Hashing;

import java.nio.charset.StandardCharsets;

/**
 * User text in records the job keeps outside its state (dead letters, the pair audit): kept in full, or
 * replaced by its SHA-256 where the text must not be stored but records still need to be matched
 * (the same prompt always hashes the same).
 */
public enum UserText {
    /** Store the text as it came. */
    FULL,
    /** Store {@code sha256:<64 hex digits>} of the UTF-8 text instead. */
    SHA256;

    public static final String HASH_PREFIX = "sha256:";

    public String apply(String text) {
        if (this == FULL || text == null || text.isEmpty()) {
            return text;
        }
        return HASH_PREFIX + Hashing.sha256(text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The dead letter with its payload (the offending input) passed through this policy. Under
     * {@link #SHA256} the detail is withheld too, since parser messages may quote the input; the
     * reason code stays.
     */
    public DeadLetter apply(DeadLetter d) {
        return this == FULL ? d : new DeadLetter(d.requestId(), d.promptId(), d.stage(), d.reason(),
                "detail withheld (user text stored as hashes)", apply(d.payload()), d.time());
    }

    /** The pair with its prompt and both responses passed through this policy. */
    public PreferencePair apply(PreferencePair p) {
        return this == FULL ? p : new PreferencePair(p.promptId(), p.requestId(), apply(p.prompt()), apply(p.chosen()), apply(p.rejected()),
                p.chosenReward(), p.rejectedReward(), p.weight(), p.policyVersion(), p.fresh());
    }
}
