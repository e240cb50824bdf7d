package io.optune.connectors.weights;

import io.optune.operators.faults.FaultInjection;
import io.optune.engine.Json;
import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.PolicySigner;
import io.optune.operators.weights.PolicyVerifier;
import io.optune.operators.weights.VersionManifest;
import io.optune.operators.weights.VersionStatement;
import io.optune.operators.weights.VersionWriter;
import io.optune.connectors.checkpoint.FlinkCheckpointFiles;
import io.optune.engine.checkpoint.CheckpointFiles;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.InputStream;
import java.io.OutputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
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
 *   versions/v000000000007/                  version 7, a Hugging Face checkpoint directory: config.json,
 *                                            model.safetensors, generation_config.json, tokenizer files, and
 *                                            optune.json (its manifest: step, parent, metrics, SHA-256 of every file)
 *   announcements/v000000000007.json         its PolicyUpdate (location: the directory; sha256: optune.json's),
 *                                            written once the directory is in place
 *   signatures/v000000000007.json            the publisher's Ed25519 signature of version 7 (when signing is on)
 *   manifest.json                            every announced version (version, step, location, sha256), newest last
 * </pre>
 *
 * With a {@link PolicySigner}, every version is signed before it is announced; with a
 * {@link PolicyVerifier}, {@link #readVerified} refuses unsigned or wrongly signed versions, so write
 * access to the store alone does not let anyone publish a policy that generators load.
 *
 * A version directory, the signature and the announcement are each written under a temporary name
 * in the hidden {@code .staging/} folder and renamed into place, so readers (and Flink's file source)
 * never see a partial or temporary file; the announcement is the commit point. (On object stores
 * without atomic directory renames the announcement still commits: readers only follow
 * announcements, and check every file against the manifest.) Use {@link #builder()}.
 */
public final class FileSystemWeightLog implements WeightLog {
    private static final long serialVersionUID = 1L;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(FileSystemWeightLog.class);

    public static final String VERSIONS = "versions";
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

        /** Keep only the newest N version directories (0, the default, keeps all); announcements stay. */
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
            fs.mkdirs(new Path(base, VERSIONS));
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
    public PolicyUpdate publish(PolicyUpdate update, VersionWriter files) throws IOException {
        Path base = new Path(basePath);
        FileSystem fs = base.getFileSystem();
        String name = String.format("v%012d", update.version());
        Path versionDir = versionDir(update.version());
        Path announcementPath = new Path(new Path(base, ANNOUNCEMENTS), name + ".json");
        if (fs.exists(announcementPath)) {
            throw new IOException("policy version " + update.version() + " is already published at " + announcementPath);
        }
        // The parent is the newest version below this one (a forged higher number in the store must not hide it).
        long parent = versions().stream().mapToLong(PolicyUpdate::version).filter(v -> v < update.version()).max().orElse(-1L);
        Path staging = new Path(new Path(base, STAGING), "." + name + "." + UUID.randomUUID() + ".tmp");
        fs.mkdirs(staging);
        byte[] manifest;
        try {
            HashingFiles hashing = new HashingFiles(new FlinkCheckpointFiles(staging));
            files.write(hashing);
            manifest = VersionManifest.of(update, parent, hashing.hashes()).bytes();
            try (FSDataOutputStream out = fs.create(new Path(staging, VersionManifest.FILE), FileSystem.WriteMode.NO_OVERWRITE)) {
                out.write(manifest);
                out.sync();
            }
            if (fs.exists(versionDir)) {
                // A crash between the rename and the announcement left an uncommitted directory of this
                // version: replace it (renaming onto an existing directory fails).
                fs.delete(versionDir, true);
            }
            fs.mkdirs(new Path(base, VERSIONS));
            if (!fs.rename(staging, versionDir)) {
                throw new IOException("could not move " + staging + " to " + versionDir);
            }
        } catch (IOException | RuntimeException e) {
            fs.delete(staging, true);
            throw e;
        }
        String sha = Hashing.sha256(manifest);
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
        PolicyUpdate announced = new PolicyUpdate(update.version(), update.step(), versionDir.toUri().toString(),
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
                LOG.warn("Could not prune old versions in {}: {}", basePath, e.getMessage());
            }
        }
        return announced;
    }

    /** The directory of a version: {@code versions/v000000000042}. */
    public Path versionDir(long version) {
        return new Path(new Path(basePath, VERSIONS), String.format("v%012d", version));
    }

    /** Records the SHA-256 of every file a {@link VersionWriter} creates, as it is written. */
    private static final class HashingFiles implements CheckpointFiles {
        private final CheckpointFiles target;
        private final Map<String, String> hashes = new TreeMap<>();

        HashingFiles(CheckpointFiles target) {
            this.target = target;
        }

        Map<String, String> hashes() {
            return hashes;
        }

        @Override
        public OutputStream create(String name) throws IOException {
            if (name.equals(VersionManifest.FILE)) {
                throw new IllegalArgumentException(VersionManifest.FILE + " is written by the weight log");
            }
            MessageDigest md;
            try {
                md = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            hashes.remove(name);
            return new DigestOutputStream(target.create(name), md) {
                private boolean closed;

                @Override
                public void close() throws IOException {
                    super.close();
                    if (!closed) {
                        closed = true;
                        hashes.put(name, HexFormat.of().formatHex(md.digest()));
                    }
                }
            };
        }

        @Override
        public InputStream open(String name) throws IOException {
            return target.open(name);
        }

        @Override
        public boolean exists(String name) throws IOException {
            return target.exists(name);
        }

        @Override
        public String describe() {
            return target.describe();
        }
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
            // Only the directory this log made for the version: an announcement pointing elsewhere
            // (forged or hand-written) never makes the log delete what it did not create.
            Path dir = versionDir(all.get(i).version());
            if (new Path(all.get(i).location()).toUri().getPath().equals(dir.toUri().getPath())) {
                fs.delete(dir, true);
            }
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
    public void verifyManifest(PolicyUpdate update, byte[] manifest) throws IOException {
        if (verifier == null) {
            WeightLog.super.verifyManifest(update, manifest);
            return;
        }
        Path sig = signaturePath(update.version());
        byte[] signature = null;
        if (sig.getFileSystem().exists(sig)) {
            try (FSDataInputStream in = sig.getFileSystem().open(sig)) {
                signature = in.readAllBytes();
            }
        }
        verifier.verify(update, manifest, signature);
    }

    @Override
    public InputStream open(String location, String name) throws IOException {
        if (!VersionManifest.isPlainName(name) && !name.equals(VersionManifest.FILE)) {
            throw new IllegalArgumentException("'" + name + "' is not a plain file name of a version directory");
        }
        Path p = new Path(new Path(location), name);
        return p.getFileSystem().open(p);
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
            try (FSDataInputStream in = fs.open(f.getPath())) {
                out.add(parse(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
            }
        }
        out.sort(Comparator.comparingLong(PolicyUpdate::version));
        return out;
    }

    /** Parses an announcement line. */
    public static PolicyUpdate parse(String json) {
        return Json.read(json.trim(), PolicyUpdate.class);
    }
}
