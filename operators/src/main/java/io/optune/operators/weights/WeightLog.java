package io.optune.operators.weights;

import io.optune.operators.records.PolicyUpdate;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where policy versions are published and read back: the trainer publishes, generators and serving
 * load. A version is a directory of files (a Hugging Face checkpoint written by a
 * {@link VersionWriter}) plus the log's manifest {@link VersionManifest#FILE}, which holds the SHA-256
 * of every file; the announcement's SHA-256 (and, where the log signs, the signature) covers the
 * manifest. Implementations must publish atomically (a reader never sees a partial version) and be
 * serializable (they travel inside operators as configuration, opening resources lazily).
 */
public interface WeightLog extends Serializable {

    /**
     * Writes a version's files, adds the manifest and announces it; returns the announcement (location:
     * the version directory; sha256: the manifest's). {@code update.location()} and
     * {@code update.sha256()} are ignored on input.
     */
    default PolicyUpdate publish(PolicyUpdate update, VersionWriter files) throws IOException {
        return commit(stage(update, files));
    }

    /**
     * The first half of {@link #publish}: writes (and signs) the version's files, announces nothing.
     * Returns the announcement that {@link #commit} will write. A staged version that is never
     * committed is invisible to readers, and staging the same version number again replaces it.
     */
    PolicyUpdate stage(PolicyUpdate update, VersionWriter files) throws IOException;

    /**
     * The second half of {@link #publish}: announces a version {@link #stage} returned, which makes it
     * visible. Idempotent: committing an announced version again changes nothing (a job restored from
     * a checkpoint commits what that checkpoint staged, some of which may already be announced).
     */
    PolicyUpdate commit(PolicyUpdate staged) throws IOException;

    /** Opens one file of the version directory at {@code location}, unchecked: loaders use {@link #readVerified}. */
    InputStream open(String location, String name) throws IOException;

    /** The manifest bytes of a version, unchecked. */
    default byte[] readManifest(PolicyUpdate update) throws IOException {
        try (InputStream in = open(update.location(), VersionManifest.FILE)) {
            return in.readAllBytes();
        }
    }

    /**
     * Checks a version's manifest bytes against its announcement: the SHA-256 must match and, where
     * the log verifies signatures, the publisher's signature must cover exactly this version.
     */
    default void verifyManifest(PolicyUpdate update, byte[] manifest) throws IOException {
        String actual = io.optune.engine.snapshot.Hashing.sha256(manifest);
        if (!actual.equals(update.sha256())) {
            throw new UntrustedVersionException("policy version " + update.version() + ": manifest SHA-256 " + actual
                    + " differs from the announced " + update.sha256());
        }
    }

    /**
     * Copies an announced version into a new private directory under {@code java.io.tmpdir}, checking
     * the manifest ({@link #verifyManifest}) and every file's SHA-256 on the way; only the manifest's
     * files are copied. The caller loads from the copy and closes it.
     *
     * @throws UntrustedVersionException when the version is refused
     */
    default VerifiedVersion readVerified(PolicyUpdate update) throws IOException {
        return readVerified(update, name -> true);
    }

    /** As {@link #readVerified(PolicyUpdate)}, copying only the files whose names {@code which} accepts. */
    default VerifiedVersion readVerified(PolicyUpdate update, java.util.function.Predicate<String> which) throws IOException {
        byte[] manifestBytes = readManifest(update);
        verifyManifest(update, manifestBytes);
        String where = "policy version " + update.version();
        VersionManifest manifest = VersionManifest.parse(manifestBytes, where);
        if (manifest.version() != update.version()) {
            throw new UntrustedVersionException(where + " has the manifest of version " + manifest.version());
        }
        Path dir = Files.createTempDirectory(String.format("optune-v%d-", update.version()));
        try {
            for (Map.Entry<String, String> f : manifest.files().entrySet()) {
                if (!which.test(f.getKey())) {
                    continue;
                }
                MessageDigest md = sha256();
                try (InputStream in = new DigestInputStream(open(update.location(), f.getKey()), md);
                        OutputStream out = Files.newOutputStream(dir.resolve(f.getKey()))) {
                    in.transferTo(out);
                }
                String actual = HexFormat.of().formatHex(md.digest());
                if (!actual.equals(f.getValue())) {
                    throw new UntrustedVersionException(where + ": " + f.getKey() + " has SHA-256 " + actual
                            + ", its manifest says " + f.getValue() + " (altered or damaged file)");
                }
            }
            Files.write(dir.resolve(VersionManifest.FILE), manifestBytes);
            return new VerifiedVersion(update, manifest, dir);
        } catch (IOException | RuntimeException e) {
            VerifiedVersion.deleteTree(dir);
            throw e;
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The announced versions that can still be read (a log with retention prunes older ones), oldest first. */
    List<PolicyUpdate> versions() throws IOException;

    /**
     * Every version ever announced, oldest first, including pruned ones whose files are gone: the
     * record of a run's metrics. A log without retention returns {@link #versions}.
     */
    default List<PolicyUpdate> history() throws IOException {
        return versions();
    }

    /**
     * Whether {@code update} is still announced. A version can be pruned between its announcement and
     * a reader's load (the reader lagged behind the retention window); readers that fail to read a
     * version ask this to tell a pruned version (skip it: newer ones exist) from a broken store.
     */
    default boolean isRetained(PolicyUpdate update) throws IOException {
        return true;
    }

    /**
     * The newest announced version that {@link #readVerified} accepts (the caller closes it); each
     * refused newer version is passed to {@code refused} (to be logged and counted) and skipped.
     *
     * @throws IllegalStateException when nothing is published or no version is accepted
     */
    default VerifiedVersion newestVerified(java.util.function.Consumer<UntrustedVersionException> refused) throws IOException {
        return newestVerified(refused, name -> true);
    }

    /**
     * As {@link #newestVerified(java.util.function.Consumer)}, copying only the files {@code which}
     * accepts. A version pruned while it was being read is passed over for the next listing.
     */
    default VerifiedVersion newestVerified(java.util.function.Consumer<UntrustedVersionException> refused,
            java.util.function.Predicate<String> which) throws IOException {
        for (int listing = 1; ; listing++) {
            List<PolicyUpdate> all = versions();
            boolean prunedMeanwhile = false;
            for (int i = all.size() - 1; i >= 0 && !prunedMeanwhile; i--) {
                try {
                    return readVerified(all.get(i), which);
                } catch (UntrustedVersionException e) {
                    refused.accept(e);
                } catch (IOException e) {
                    if (listing >= 3 || isRetained(all.get(i))) {
                        throw e;
                    }
                    prunedMeanwhile = true;
                }
            }
            if (prunedMeanwhile) {
                continue;
            }
            if (all.isEmpty()) {
                requireLatest(); // the usual message for an empty log
            }
            throw new IllegalStateException("none of the " + all.size() + " policy versions in the weight log passed verification");
        }
    }

    /** The newest announced version; fails clearly when nothing has been published yet. */
    default PolicyUpdate requireLatest() throws IOException {
        return latest().orElseThrow(() -> new IllegalStateException(
                "the weight log has no policy yet: publish an initial policy (version 0) before starting the job"));
    }

    /** The newest announced version, if any. */
    default Optional<PolicyUpdate> latest() throws IOException {
        List<PolicyUpdate> v = versions();
        return v.isEmpty() ? Optional.empty() : Optional.of(v.get(v.size() - 1));
    }
}
