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

    /** The snapshot bytes at {@code location}, unchecked: loaders use {@link #readVerified}. */
    byte[] read(String location) throws IOException;

    /**
     * The snapshot of an announced version, checked before anyone loads it: its bytes must hash to
     * the announced SHA-256 and, where the log verifies signatures, carry the publisher's signature
     * over exactly this version.
     *
     * @throws UntrustedVersionException when the version is refused
     */
    default byte[] readVerified(PolicyUpdate update) throws IOException {
        byte[] bytes = read(update.location());
        String actual = io.optune.engine.snapshot.Hashing.sha256(bytes);
        if (!actual.equals(update.sha256())) {
            throw new UntrustedVersionException("policy version " + update.version() + ": snapshot SHA-256 " + actual
                    + " differs from the announced " + update.sha256());
        }
        return bytes;
    }

    /** All announced versions, oldest first. */
    List<PolicyUpdate> versions() throws IOException;

    /** An announced version with its checked snapshot bytes. */
    record Verified(PolicyUpdate update, byte[] snapshot) {}

    /**
     * The newest announced version that {@link #readVerified} accepts; each refused newer version is
     * passed to {@code refused} (to be logged and counted) and skipped.
     *
     * @throws IllegalStateException when nothing is published or no version is accepted
     */
    default Verified newestVerified(java.util.function.Consumer<UntrustedVersionException> refused) throws IOException {
        List<PolicyUpdate> all = versions();
        for (int i = all.size() - 1; i >= 0; i--) {
            try {
                return new Verified(all.get(i), readVerified(all.get(i)));
            } catch (UntrustedVersionException e) {
                refused.accept(e);
            }
        }
        if (all.isEmpty()) {
            requireLatest(); // the usual message for an empty log
        }
        throw new IllegalStateException("none of the " + all.size() + " policy versions in the weight log passed verification");
    }

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
