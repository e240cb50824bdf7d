package io.optune.operators.weights;

import io.optune.operators.records.PolicyUpdate;

import java.io.IOException;
import java.io.Serializable;
import java.util.List;
import java.util.Optional;

/**
 * Where policy snapshots are published and read back: the trainer publishes, generators and
 * serving load. Implementations must publish atomically (a reader never sees a partial snapshot)
 * and be serializable (they travel inside operators as configuration, opening resources lazily).
 */
public interface WeightLog extends Serializable {

    /**
     * Writes a snapshot and announces it; returns the announcement (location and sha256 filled in).
     * {@code update.location()} and {@code update.sha256()} are ignored on input.
     */
    PolicyUpdate publish(PolicyUpdate update, byte[] snapshot) throws IOException;

    /** The snapshot bytes at {@code location}. */
    byte[] read(String location) throws IOException;

    /** All announced versions, oldest first. */
    List<PolicyUpdate> versions() throws IOException;

    /** The newest announced version; fails clearly when nothing has been published yet. */
    default PolicyUpdate requireLatest() throws IOException {
        return latest().orElseThrow(() -> new IllegalStateException(
                "the weight log has no policy yet: publish an initial (SFT) policy before starting the job"));
    }

    /** The newest announced version, if any. */
    default Optional<PolicyUpdate> latest() throws IOException {
        List<PolicyUpdate> v = versions();
        return v.isEmpty() ? Optional.empty() : Optional.of(v.get(v.size() - 1));
    }
}
