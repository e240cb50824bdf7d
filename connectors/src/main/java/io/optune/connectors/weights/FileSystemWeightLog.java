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
 *   manifest.json                            the retained versions (version, step, location, sha256), newest last
 *   history/pending/v000000000003.json       the announcement of a pruned version (its files are gone)
 *   history/v000000000000-v000000001023.jsonl
 *                                            pruned announcements merged, one JSON line each, 1,024 per file
 * </pre>
 *
 * <p><b>Retention</b> ({@link VersionRetention}): after each publication the versions the policy no
 * longer keeps lose their directory, signature and announcement, in an order that keeps every
 * reader's view consistent: the manifest is rewritten first (it never names a pruned version), the
 * announcement goes last (a crash midway leaves the version announced and the next publication
 * prunes it again). The announcement itself moves to {@code history/}, so a run's metrics over all its
 * versions stay readable ({@link #history}). A publication costs the same however long the log is:
 * the publisher lists the store once, then keeps the retained window in memory; {@link #versions}
 * lists only the retained window. One publisher per log (the trainer).
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
    public static final String HISTORY = "history";
    /** Pruned announcements merged into one history file at a time. */
    static final int HISTORY_SEGMENT = 1024;

    private final String basePath;
    private final VersionRetention retention;
    private final PolicySigner signer;
    private final PolicyVerifier verifier;
    /** The publisher's view of the retained window, read from the store once; null until the first publication. */
    private transient Window window;

    private FileSystemWeightLog(String basePath, VersionRetention retention, PolicySigner signer, PolicyVerifier verifier) {
        this.basePath = basePath;
        this.retention = retention;
        this.signer = signer;
        this.verifier = verifier;
    }

    /**
     * <pre>{@code
     * WeightLog log = FileSystemWeightLog.builder().setBasePath("s3://bucket/optune/weights").optRetainVersions(20).optRetainEvery(1000).build();
     * }</pre>
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder of {@link FileSystemWeightLog}. */
    public static final class Builder {
        private String basePath;
        private int retainVersions;
        private int retainEvery;
        private PolicySigner signer;
        private PolicyVerifier verifier;

        public Builder setBasePath(String basePath) {
            this.basePath = basePath;
            return this;
        }

        /** Keep only the newest N versions (0, the default here, keeps all); older ones are pruned to their history line. */
        public Builder optRetainVersions(int n) {
            this.retainVersions = n;
            return this;
        }

        /** Also keep every version whose number is a multiple of N (0, the default: none), as long-lived rollback points. */
        public Builder optRetainEvery(int n) {
            this.retainEvery = n;
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
            return new FileSystemWeightLog(basePath, new VersionRetention(retainVersions, retainEvery), signer, verifier);
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
    public PolicyUpdate stage(PolicyUpdate update, VersionWriter files) throws IOException {
        FileSystem fs = new Path(basePath).getFileSystem();
        try {
            return write(fs, window(fs), update, files);
        } catch (IOException | RuntimeException e) {
            window = null; // what happened in the store is uncertain: list it again next time
            throw e;
        }
    }

    @Override
    public PolicyUpdate commit(PolicyUpdate staged) throws IOException {
        FileSystem fs = new Path(basePath).getFileSystem();
        Window w = window(fs);
        Path announcementPath = announcementPath(staged.version());
        if (w.announced.containsKey(staged.version()) || fs.exists(announcementPath)) {
            return staged; // committed before (a restored job commits what its checkpoint staged)
        }
        if (!fs.exists(new Path(versionDir(staged.version()), VersionManifest.FILE))) {
            throw new IOException("policy version " + staged.version() + " was not staged at " + versionDir(staged.version()));
        }
        try {
            writeAtomically(fs, announcementPath, Json.write(staged).getBytes(StandardCharsets.UTF_8));
            w.announced.put(staged.version(), staged);
            w.staged.headSet(staged.version(), true).clear();
            if (retention.pruned(w.announced.navigableKeySet()).isEmpty()) {
                // With pruning due, the manifest is rewritten once, before anything is deleted (prune).
                tryWriteManifest(fs, w);
            }
        } catch (IOException | RuntimeException e) {
            window = null;
            throw e;
        }
        prune(fs, w);
        return staged;
    }

    /** Writes and signs a version's directory; the announcement is {@link #commit}'s. */
    private PolicyUpdate write(FileSystem fs, Window w, PolicyUpdate update, VersionWriter files) throws IOException {
        Path base = new Path(basePath);
        String name = String.format("v%012d", update.version());
        Path versionDir = versionDir(update.version());
        Path announcementPath = announcementPath(update.version());
        if (w.announced.containsKey(update.version()) || fs.exists(announcementPath)) {
            throw new IOException("policy version " + update.version() + " is already published at " + announcementPath);
        }
        // The parent is the newest version below this one (a forged higher number in the store must not hide it).
        // Staged versions count too: with publication on checkpoints they are committed in order.
        Long below = w.announced.lowerKey(update.version());
        Long stagedBelow = w.staged.lower(update.version());
        long parent = Math.max(below == null ? -1L : below, stagedBelow == null ? -1L : stagedBelow);
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
        w.staged.add(update.version());
        return new PolicyUpdate(update.version(), update.step(), versionDir.toUri().toString(),
                sha, update.publishedAt(), update.loss(), update.margin(), update.logRatioMean(),
                update.reward(), update.freshFraction(), update.heldOutReward());
    }

    /**
     * Applies the retention policy to the window. Failures are logged, not thrown: the version is
     * committed, and whatever was not pruned now is pruned by a later publication.
     */
    private void prune(FileSystem fs, Window w) {
        List<Long> doomed = retention.pruned(w.announced.navigableKeySet());
        if (doomed.isEmpty()) {
            return;
        }
        List<PolicyUpdate> gone = new ArrayList<>();
        for (long v : doomed) {
            gone.add(w.announced.remove(v));
        }
        if (!tryWriteManifest(fs, w)) {
            for (PolicyUpdate u : gone) {
                w.announced.put(u.version(), u); // the old manifest may still name them: keep them for now
            }
            return;
        }
        try {
            Path pending = new Path(new Path(basePath, HISTORY), PENDING);
            fs.mkdirs(pending);
            for (PolicyUpdate u : gone) {
                // Only the directory this log made for the version: an announcement pointing elsewhere
                // (forged or hand-written) never makes the log delete what it did not create.
                Path dir = versionDir(u.version());
                if (new Path(u.location()).toUri().getPath().equals(dir.toUri().getPath())) {
                    fs.delete(dir, true);
                }
                fs.delete(signaturePath(u.version()), false);
                Path to = new Path(pending, announcementPath(u.version()).getName());
                if (!fs.exists(to) && !fs.rename(announcementPath(u.version()), to)) {
                    throw new IOException("could not move the announcement of version " + u.version() + " to " + pending);
                }
                fs.delete(announcementPath(u.version()), false); // already in history (a crash after the move)
                w.pending++;
            }
            if (w.pending >= HISTORY_SEGMENT) {
                mergeHistory(fs);
                w.pending = 0;
            }
        } catch (IOException e) {
            window = null;
            LOG.warn("Could not prune old versions in {} (a later publication retries): {}", basePath, e.getMessage());
        }
    }

    /** Merges the pending history announcements into one {@code history/vA-vB.jsonl}, then removes them. */
    private void mergeHistory(FileSystem fs) throws IOException {
        Path pending = new Path(new Path(basePath, HISTORY), PENDING);
        List<PolicyUpdate> lines = readAnnouncements(fs, pending);
        if (lines.isEmpty()) {
            return;
        }
        StringBuilder b = new StringBuilder();
        for (PolicyUpdate u : lines) {
            b.append(Json.write(u)).append('\n');
        }
        String segment = String.format("v%012d-v%012d.jsonl", lines.get(0).version(), lines.get(lines.size() - 1).version());
        // Written before the pending files go: a crash in between leaves lines twice, which history() reads once.
        writeAtomically(fs, new Path(new Path(basePath, HISTORY), segment), b.toString().getBytes(StandardCharsets.UTF_8));
        for (PolicyUpdate u : lines) {
            fs.delete(new Path(pending, announcementPath(u.version()).getName()), false);
        }
    }

    private boolean tryWriteManifest(FileSystem fs, Window w) {
        try {
            writeManifest(fs, w.announced.values());
            return true;
        } catch (IOException e) {
            // The announcement is the commit point; the manifest is a convenience for readers.
            LOG.warn("Could not update the manifest in {}: {}", basePath, e.getMessage());
            return false;
        }
    }

    /** What the publisher knows of the store: the announced, retained versions and the pending history count. */
    private static final class Window {
        final java.util.TreeMap<Long, PolicyUpdate> announced = new java.util.TreeMap<>();
        /** Versions this publisher staged (only their order matters: older ones are dropped on commit). */
        final java.util.TreeSet<Long> staged = new java.util.TreeSet<>();
        int pending;
    }

    private Window window(FileSystem fs) throws IOException {
        if (window == null) {
            Window w = new Window();
            for (PolicyUpdate u : versions()) {
                w.announced.put(u.version(), u);
            }
            Path pending = new Path(new Path(basePath, HISTORY), PENDING);
            FileStatus[] listed = fs.exists(pending) ? fs.listStatus(pending) : null;
            w.pending = listed == null ? 0 : listed.length;
            window = w;
        }
        return window;
    }

    private Path announcementPath(long version) {
        return new Path(new Path(basePath, ANNOUNCEMENTS), String.format("v%012d.json", version));
    }

    /** Folder of {@link #HISTORY} holding single pruned announcements until they are merged. */
    static final String PENDING = "pending";

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

    /** Rewrites {@code manifest.json} with the retained versions (atomically, like every other file here). */
    private void writeManifest(FileSystem fs, java.util.Collection<PolicyUpdate> retained) throws IOException {
        List<java.util.Map<String, Object>> entries = new ArrayList<>();
        for (PolicyUpdate u : retained) {
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

    /** The retained versions (announced and not pruned), oldest first. */
    @Override
    public List<PolicyUpdate> versions() throws IOException {
        Path dir = new Path(basePath, ANNOUNCEMENTS);
        return readAnnouncements(dir.getFileSystem(), dir);
    }

    /**
     * Every version ever announced here, oldest first, pruned ones included (their locations are
     * gone): the history of a run's metrics. Reads the whole history, so meant for reports.
     */
    @Override
    public List<PolicyUpdate> history() throws IOException {
        Path historyDir = new Path(basePath, HISTORY);
        FileSystem fs = historyDir.getFileSystem();
        TreeMap<Long, PolicyUpdate> all = new TreeMap<>();
        FileStatus[] segments = fs.exists(historyDir) ? fs.listStatus(historyDir) : null;
        if (segments != null) {
            for (FileStatus f : segments) {
                String n = f.getPath().getName();
                if (f.isDir() || n.startsWith(".") || !n.endsWith(".jsonl")) {
                    continue;
                }
                try (FSDataInputStream in = fs.open(f.getPath())) {
                    for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                        if (!line.isBlank()) {
                            PolicyUpdate u = parse(line);
                            all.put(u.version(), u);
                        }
                    }
                }
            }
        }
        for (PolicyUpdate u : readAnnouncements(fs, new Path(historyDir, PENDING))) {
            all.put(u.version(), u);
        }
        for (PolicyUpdate u : versions()) {
            all.put(u.version(), u);
        }
        return new ArrayList<>(all.values());
    }

    @Override
    public boolean isRetained(PolicyUpdate update) throws IOException {
        Path a = announcementPath(update.version());
        return a.getFileSystem().exists(a);
    }

    /** The announcements in {@code dir}, oldest first; one deleted while being listed is skipped. */
    private static List<PolicyUpdate> readAnnouncements(FileSystem fs, Path dir) throws IOException {
        List<PolicyUpdate> out = new ArrayList<>();
        FileStatus[] files = fs.exists(dir) ? fs.listStatus(dir) : null;
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
            } catch (java.io.FileNotFoundException e) {
                // pruned between the listing and the read
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
