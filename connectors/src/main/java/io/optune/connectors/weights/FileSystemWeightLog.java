package io.optune.connectors.weights;

import io.optune.operators.faults.FaultInjection;
import io.optune.engine.Json;
import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.PolicySigner;
import io.optune.operators.weights.PolicyVerifier;
import io.optune.operators.weights.VersionStatement;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;

/**
 * A {@link WeightLog} on any Flink {@link FileSystem} (file://, s3://, hdfs:// through Flink's
 * filesystem plugins). Layout under the base path:
 *
 * <pre>
 *   snapshots/policy-v000000000007.safetensors   the snapshot (PolicySnapshot format)
 *   announcements/v000000000007.json             its PolicyUpdate, written once the snapshot is in place
 *   signatures/v000000000007.json                the publisher's Ed25519 signature of version 7 (when signing is on)
 *   manifest.json                                 every announced version (version, step, location, sha256), newest last
 * </pre>
 *
 * With a {@link PolicySigner}, every version is signed before it is announced; with a
 * {@link PolicyVerifier}, {@link #readVerified} refuses unsigned or wrongly signed versions, so write
 * access to the store alone does not let anyone publish a policy that generators load.
 *
 * Both files are written under a temporary name in the hidden {@code .staging/} folder and renamed
 * into place, so readers (and Flink's file source) never see a partial or temporary file; the
 * announcement is the commit point. Use {@link #builder()}.
 */
public final class FileSystemWeightLog implements WeightLog {
    private static final long serialVersionUID = 1L;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(FileSystemWeightLog.class);

    public static final String SNAPSHOTS = "snapshots";
    public static final String ANNOUNCEMENTS = "announcements";
    public static final String SIGNATURES = "signatures";
    public static final String MANIFEST = "manifest.json";

    private final String basePath;
    private final int retainVersions;
    private final PolicySigner signer;
    private final PolicyVerifier verifier;

    private FileSystemWeightLog(String basePath, int retainVersions, PolicySigner signer, PolicyVerifier verifier) {
        this.basePath = basePath;
        this.retainVersions = retainVersions;
        this.signer = signer;
        this.verifier = verifier;
    }

    /**
     * <pre>{@code
     * WeightLog log = FileSystemWeightLog.builder().setBasePath("s3://bucket/optune/weights").optRetainVersions(20).build();
     * }</pre>
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder of {@link FileSystemWeightLog}. */
    public static final class Builder {
        private String basePath;
        private int retainVersions;
        private PolicySigner signer;
        private PolicyVerifier verifier;

        public Builder setBasePath(String basePath) {
            this.basePath = basePath;
            return this;
        }

        /** Keep only the newest N snapshots (0, the default, keeps all). */
        public Builder optRetainVersions(int n) {
            this.retainVersions = n;
            return this;
        }

        /** Signs every published version (only where versions are published: the trainer, the initial policy). */
        public Builder optSigner(PolicySigner signer) {
            this.signer = signer;
            return this;
        }

        /** Refuses to hand out versions that this key did not sign. */
        public Builder optVerifier(PolicyVerifier verifier) {
            this.verifier = verifier;
            return this;
        }

        public FileSystemWeightLog build() {
            if (basePath == null || basePath.isBlank()) {
                throw new IllegalArgumentException("the weight log needs a base path");
            }
            if (retainVersions < 0) {
                throw new IllegalArgumentException("retainVersions must be >= 0");
            }
            return new FileSystemWeightLog(basePath, retainVersions, signer, verifier);
        }
    }

    public String basePath() {
        return basePath;
    }

    public Path announcementsDir() {
        return new Path(basePath, ANNOUNCEMENTS);
    }

    /** Creates the directories; fails with a clear message when the store is not writable. */
    public void initialize() throws IOException {
        Path base = new Path(basePath);
        FileSystem fs = base.getFileSystem();
        try {
            fs.mkdirs(new Path(base, SNAPSHOTS));
            fs.mkdirs(new Path(base, ANNOUNCEMENTS));
            fs.mkdirs(new Path(base, SIGNATURES));
            Path probe = new Path(base, "." + UUID.randomUUID() + ".probe");
            try (FSDataOutputStream o = fs.create(probe, FileSystem.WriteMode.NO_OVERWRITE)) {
                o.write(1);
            }
            fs.delete(probe, false);
        } catch (IOException e) {
            throw new IOException("weight log at " + basePath + " is not writable: " + e.getMessage(), e);
        }
    }

    @Override
    public PolicyUpdate publish(PolicyUpdate update, byte[] snapshot) throws IOException {
        Path base = new Path(basePath);
        FileSystem fs = base.getFileSystem();
        String name = String.format("v%012d", update.version());
        Path snapshotPath = new Path(new Path(base, SNAPSHOTS), "policy-" + name + ".safetensors");
        Path announcementPath = new Path(new Path(base, ANNOUNCEMENTS), name + ".json");
        if (fs.exists(announcementPath)) {
            throw new IOException("policy version " + update.version() + " is already published at " + announcementPath);
        }
        if (fs.exists(snapshotPath)) {
            // A crash between snapshot and announcement left an uncommitted snapshot of this version:
            // replace it (renaming onto an existing file fails on HDFS and object stores).
            fs.delete(snapshotPath, false);
        }
        String sha = Hashing.sha256(snapshot);
        // The parent is the newest version below this one (a forged higher number in the store must not hide it).
        long parent = signer == null ? -1
                : versions().stream().mapToLong(PolicyUpdate::version).filter(v -> v < update.version()).max().orElse(-1L);
        writeAtomically(fs, snapshotPath, snapshot);
        if (signer != null) {
            // Before the announcement (the commit point), so no reader ever sees an announced, unsigned version.
            Path signaturePath = signaturePath(update.version());
            if (fs.exists(signaturePath)) {
                fs.delete(signaturePath, false); // left by a crash before the announcement
            }
            writeAtomically(fs, signaturePath,
                    signer.sign(new VersionStatement(update.version(), parent, sha, signer.configSha256())));
        }
        FaultInjection.check(FaultInjection.Point.PUBLISH);
        PolicyUpdate announced = new PolicyUpdate(update.version(), update.step(), snapshotPath.toUri().toString(),
                sha, update.publishedAt(), update.loss(), update.margin(), update.logRatioMean(),
                update.reward(), update.freshFraction(), update.heldOutReward());
        writeAtomically(fs, announcementPath, Json.write(announced).getBytes(StandardCharsets.UTF_8));
        try {
            writeManifest(fs);
        } catch (IOException e) {
            // The announcement is the commit point; the manifest is a convenience for readers.
            LOG.warn("Could not update the manifest in {}: {}", basePath, e.getMessage());
        }
        if (retainVersions > 0) {
            try {
                prune(fs);
            } catch (IOException e) {
                // The version is committed; a failed clean-up must not look like a failed publish.
                LOG.warn("Could not prune old snapshots in {}: {}", basePath, e.getMessage());
            }
        }
        return announced;
    }

    /**
     * Hidden folder where files are written before they are renamed into place: outside the folders
     * that readers and Flink's file source list (a temporary file beside the announcements could be
     * listed and then, renamed meanwhile, fail the source's directory scan with an error).
     */
    static final String STAGING = ".staging";

    private void writeAtomically(FileSystem fs, Path target, byte[] bytes) throws IOException {
        Path staging = new Path(basePath, STAGING);
        fs.mkdirs(staging);
        Path tmp = new Path(staging, "." + target.getName() + "." + UUID.randomUUID() + ".tmp");
        try (FSDataOutputStream out = fs.create(tmp, FileSystem.WriteMode.NO_OVERWRITE)) {
            out.write(bytes);
            out.sync();
        }
        if (!fs.rename(tmp, target)) {
            fs.delete(tmp, false);
            throw new IOException("could not move " + tmp + " to " + target);
        }
    }

    /** Rewrites {@code manifest.json} from the announcements (atomically, like every other file here). */
    private void writeManifest(FileSystem fs) throws IOException {
        List<java.util.Map<String, Object>> entries = new ArrayList<>();
        for (PolicyUpdate u : versions()) {
            java.util.Map<String, Object> e = new java.util.LinkedHashMap<>();
            e.put("version", u.version());
            e.put("step", u.step());
            e.put("location", u.location());
            e.put("sha256", u.sha256());
            e.put("publishedAt", u.publishedAt());
            entries.add(e);
        }
        writeAtomically(fs, new Path(basePath, MANIFEST), Json.write(java.util.Map.of("format", "optune-weight-log", "versions", entries))
                .getBytes(StandardCharsets.UTF_8));
    }

    private void prune(FileSystem fs) throws IOException {
        List<PolicyUpdate> all = versions();
        for (int i = 0; i < all.size() - retainVersions; i++) {
            fs.delete(new Path(all.get(i).location()), false);
            fs.delete(signaturePath(all.get(i).version()), false);
        }
    }

    private Path signaturePath(long version) {
        return new Path(new Path(basePath, SIGNATURES), String.format("v%012d.json", version));
    }

    /** Whether this log refuses versions without a trusted signature. */
    public boolean verifiesSignatures() {
        return verifier != null;
    }

    @Override
    public byte[] readVerified(PolicyUpdate update) throws IOException {
        if (verifier == null) {
            return WeightLog.super.readVerified(update);
        }
        byte[] snapshot = read(update.location());
        Path sig = signaturePath(update.version());
        byte[] signature = sig.getFileSystem().exists(sig) ? read(sig.toUri().toString()) : null;
        verifier.verify(update, snapshot, signature);
        return snapshot;
    }

    @Override
    public byte[] read(String location) throws IOException {
        Path p = new Path(location);
        try (FSDataInputStream in = p.getFileSystem().open(p); ByteArrayOutputStream out = new ByteArrayOutputStream()) {
            in.transferTo(out);
            return out.toByteArray();
        }
    }

    @Override
    public List<PolicyUpdate> versions() throws IOException {
        Path dir = new Path(basePath, ANNOUNCEMENTS);
        FileSystem fs = dir.getFileSystem();
        List<PolicyUpdate> out = new ArrayList<>();
        if (!fs.exists(dir)) {
            return out;
        }
        FileStatus[] files = fs.listStatus(dir);
        if (files == null) {
            return out;
        }
        for (FileStatus f : files) {
            String n = f.getPath().getName();
            if (n.startsWith(".") || !n.endsWith(".json")) {
                continue;
            }
            out.add(parse(new String(read(f.getPath().toUri().toString()), StandardCharsets.UTF_8)));
        }
        out.sort(Comparator.comparingLong(PolicyUpdate::version));
        return out;
    }

    /** Parses an announcement line. */
    public static PolicyUpdate parse(String json) {
        return Json.read(json.trim(), PolicyUpdate.class);
    }
}
