package io.optune.operators.records;

import io.optune.engine.loop.PairBuilder;
import io.optune.engine.loop.Response;
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

    /**
     * The pair with its prompt and both responses passed through this policy. Under {@link #SHA256}
     * the token ids go too (they decode to the text); the hashes still match records.
     */
    public PreferencePair apply(PreferencePair p) {
        if (this == FULL) {
            return p;
        }
        PairBuilder.Pair q = p.pair();
        return new PreferencePair(p.promptId(), p.requestId(), apply(p.prompt()), NO_IDS,
                new PairBuilder.Pair(apply(q.chosen()), q.chosenReward(), apply(q.rejected()), q.rejectedReward(), q.weight()),
                p.policyVersion(), p.fresh());
    }

    private static final int[] NO_IDS = new int[0];

    private Response apply(Response r) {
        return new Response(NO_IDS, apply(r.text()));
    }
}
