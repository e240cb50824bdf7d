package io.optune.connectors.weights;

import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.weights.VersionManifest;
import io.optune.operators.weights.VersionWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FileSystemWeightLogTest {
    @TempDir
    Path dir;

    private static PolicyUpdate update(long version) {
        return new PolicyUpdate(version, version * 10, null, null, 123L, 0.5, 1.0, 0.1, 0.8, 0.4, 0.7);
    }

    /** A version of two files: {@code model.safetensors} holding {@code weights}, and a config. */
    private static VersionWriter files(int... weights) {
        byte[] b = bytes(weights);
        return dir -> {
            try (var out = dir.create("model.safetensors")) {
                out.write(b);
            }
            try (var out = dir.create("config.json")) {
                out.write("{}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        };
    }

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    private static byte[] weights(FileSystemWeightLog log, PolicyUpdate u) throws IOException {
        try (var in = log.open(u.location(), "model.safetensors")) {
            return in.readAllBytes();
        }
    }

    private static byte[] verifiedWeights(FileSystemWeightLog log, PolicyUpdate u) throws IOException {
        try (VerifiedVersion v = log.readVerified(u)) {
            return Files.readAllBytes(v.dir().resolve("model.safetensors"));
        }
    }

    @Test
    void publishesReadsAndListsVersionsInOrder() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        assertThat(log.latest()).isEmpty();
        for (long v : new long[] {2, 0, 1}) {
            PolicyUpdate a = log.publish(update(v), files((int) v, 9));
            Path versionDir = dir.resolve(FileSystemWeightLog.VERSIONS).resolve(String.format("v%012d", v));
            assertThat(Path.of(java.net.URI.create(a.location()))).isEqualTo(versionDir);
            // The announcement's hash is the manifest's, and the manifest holds every file's hash.
            byte[] manifest = Files.readAllBytes(versionDir.resolve(VersionManifest.FILE));
            assertThat(a.sha256()).isEqualTo(Hashing.sha256(manifest));
            VersionManifest m = VersionManifest.parse(manifest, "test");
            assertThat(m.files()).containsEntry("model.safetensors", Hashing.sha256(bytes((int) v, 9)))
                    .containsEntry("config.json", Hashing.sha256("{}".getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                    .hasSize(2);
            assertThat(m.version()).isEqualTo(v);
            assertThat(m.step()).isEqualTo(v * 10);
            assertThat(m.metrics()).containsEntry("heldOutReward", 0.7).containsEntry("loss", 0.5);
        }
        assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L, 1L, 2L);
        PolicyUpdate latest = log.latest().orElseThrow();
        assertThat(latest.heldOutReward()).isEqualTo(0.7);
        assertThat(weights(log, latest)).containsExactly(2, 9);
        assertThat(verifiedWeights(log, latest)).containsExactly(2, 9);
        // No temporary files are left behind, and nothing visible is hidden-named (unsigned: no signature files):
        // 3 versions of 3 files, 3 announcements, the log's manifest.
        try (Stream<Path> files = Files.walk(dir)) {
            assertThat(files.filter(Files::isRegularFile).map(p -> p.getFileName().toString()))
                    .noneMatch(n -> n.startsWith(".")).hasSize(13);
        }
        // The manifest lists every version, oldest first, with its location and checksum.
        var manifest = io.optune.engine.Json.readMap(Files.readString(dir.resolve(FileSystemWeightLog.MANIFEST)));
        assertThat((java.util.List<?>) manifest.get("versions")).hasSize(3);
        assertThat(Files.readString(dir.resolve(FileSystemWeightLog.MANIFEST))).contains(latest.sha256());
    }

    /** Flink's file source lists the announcements and stats each entry: a temporary file there could vanish in between. */
    @Test
    void aDirectoryScanDuringPublicationNeverMeetsATemporaryFile() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        org.apache.flink.core.fs.Path announcements = new org.apache.flink.core.fs.Path(dir.resolve(FileSystemWeightLog.ANNOUNCEMENTS).toUri());
        var fs = announcements.getFileSystem();
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.Set<String> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
        Thread scanner = new Thread(() -> {
            while (!done.get()) {
                try {
                    for (var status : fs.listStatus(announcements)) {
                        seen.add(status.getPath().getName());
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            }
        });
        scanner.start();
        for (long v = 0; v < 200; v++) {
            log.publish(update(v), files((int) v));
        }
        done.set(true);
        scanner.join();
        assertThat(failure.get()).isNull();
        assertThat(seen).allMatch(n -> n.matches("v\\d{12}\\.json"));
    }

    @Test
    void refusesToOverwriteAPublishedVersion() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        log.publish(update(1), files(1));
        assertThatThrownBy(() -> log.publish(update(1), files(2))).isInstanceOf(IOException.class)
                .hasMessageContaining("already published");
        assertThat(verifiedWeights(log, log.latest().orElseThrow())).containsExactly(1);
    }

    @Test
    void anUnannouncedVersionDirectoryLeftByACrashIsReplaced() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        log.publish(update(1), files(1));
        // A crash between the rename and the announcement of version 2 left this behind.
        Path stale = dir.resolve(FileSystemWeightLog.VERSIONS).resolve(String.format("v%012d", 2));
        Files.createDirectories(stale);
        Files.write(stale.resolve("model.safetensors"), new byte[] {9, 9});
        Files.write(stale.resolve("stale-extra.bin"), new byte[] {9});
        var announced = log.publish(update(2), files(2));
        assertThat(verifiedWeights(log, announced)).containsExactly(2);
        assertThat(stale.resolve("stale-extra.bin")).doesNotExist();
    }

    @Test
    void aWriterThatFailsLeavesNothingBehindAndAnnouncesNothing() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        assertThatThrownBy(() -> log.publish(update(0), d -> {
            try (var out = d.create("model.safetensors")) {
                out.write(1);
            }
            throw new IOException("disk full");
        })).hasMessageContaining("disk full");
        assertThat(log.versions()).isEmpty();
        try (Stream<Path> files = Files.walk(dir)) {
            assertThat(files.filter(Files::isRegularFile)).isEmpty();
        }
        assertThatThrownBy(() -> log.publish(update(0), d -> d.create(VersionManifest.FILE).close()))
                .hasMessageContaining("written by the weight log");
    }

    @Test
    void aVersionWithAnAlteredFileIsRefusedAndItsCopyRemoved() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        PolicyUpdate v = log.publish(update(0), files(1, 2, 3));
        Path weights = Path.of(java.net.URI.create(v.location())).resolve("model.safetensors");
        Files.write(weights, new byte[] {1, 2, 4});
        long copiesBefore = tempCopies();
        assertThatThrownBy(() -> log.readVerified(v)).isInstanceOf(io.optune.operators.weights.UntrustedVersionException.class)
                .hasMessageContaining("model.safetensors has SHA-256").hasMessageContaining("altered or damaged");
        Files.delete(weights);
        assertThatThrownBy(() -> log.readVerified(v)).isInstanceOf(IOException.class);
        assertThat(tempCopies()).isEqualTo(copiesBefore);
    }

    private static long tempCopies() throws IOException {
        try (Stream<Path> s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return s.filter(p -> p.getFileName().toString().startsWith("optune-v0-")).count();
        }
    }

    @Test
    void retentionPrunesFilesSignaturesAndAnnouncementsAndKeepsTheHistory() throws Exception {
        Path keys = dir.resolve("keys");
        Path base = dir.resolve("weights");
        FileSystemWeightLog signed = signedLog(keys);
        FileSystemWeightLog log = retaining(signed, keys);
        // A user's file beside the versions is never touched.
        Files.writeString(base.resolve(FileSystemWeightLog.VERSIONS).resolve("NOTES.txt"), "mine");
        for (long v = 0; v < 10; v++) {
            log.publish(update(v), files((int) v));
        }
        // The newest 3 (7, 8, 9) and every 4th (0, 4, 8) stay whole.
        assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L, 4L, 7L, 8L, 9L);
        assertThat(names(base.resolve(FileSystemWeightLog.VERSIONS)))
                .containsExactlyInAnyOrder("v000000000000", "v000000000004", "v000000000007", "v000000000008", "v000000000009", "NOTES.txt");
        assertThat(names(base.resolve(FileSystemWeightLog.SIGNATURES))).hasSize(5);
        assertThat(names(base.resolve(FileSystemWeightLog.ANNOUNCEMENTS))).hasSize(5);
        // The manifest names only what is still there.
        String manifest = Files.readString(base.resolve(FileSystemWeightLog.MANIFEST));
        assertThat(manifest).contains("v000000000009").contains("v000000000000").doesNotContain("v000000000006");
        // The history keeps every version's announcement, metrics included.
        List<PolicyUpdate> history = log.history();
        assertThat(history).extracting(PolicyUpdate::version).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L);
        assertThat(history.get(5).heldOutReward()).isEqualTo(0.7);
        assertThat(log.isRetained(history.get(5))).isFalse();
        assertThat(log.isRetained(history.get(9))).isTrue();
        for (PolicyUpdate kept : log.versions()) {
            assertThat(verifiedWeights(log, kept)).containsExactly((byte) kept.version());
        }
        // A new publisher (a restarted trainer) picks the window up from the store and goes on pruning.
        FileSystemWeightLog again = retaining(signed, keys);
        again.publish(update(10), files(10));
        assertThat(again.versions()).extracting(PolicyUpdate::version).containsExactly(0L, 4L, 8L, 9L, 10L);
        assertThat(again.history()).hasSize(11);
    }

    @Test
    void prunedAnnouncementsAreMergedIntoHistoryFilesOfFixedSize() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).optRetainVersions(2).build();
        log.initialize();
        int n = FileSystemWeightLog.HISTORY_SEGMENT + 10;
        for (long v = 0; v < n; v++) {
            log.publish(update(v), files(1));
        }
        Path history = dir.resolve(FileSystemWeightLog.HISTORY);
        assertThat(names(history)).contains("v000000000000-v000000001023.jsonl");
        // Bounded: the live folders hold the window, the pending folder less than one segment.
        assertThat(names(history.resolve(FileSystemWeightLog.PENDING)).size()).isLessThan(FileSystemWeightLog.HISTORY_SEGMENT);
        assertThat(names(dir.resolve(FileSystemWeightLog.ANNOUNCEMENTS))).hasSize(2);
        assertThat(names(dir.resolve(FileSystemWeightLog.VERSIONS))).hasSize(2);
        List<PolicyUpdate> all = log.history();
        assertThat(all).hasSize(n);
        for (int i = 0; i < n; i++) {
            assertThat(all.get(i).version()).isEqualTo(i);
        }
    }

    @Test
    void aStagedVersionIsInvisibleUntilCommittedAndCommittingTwiceChangesNothing() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        log.publish(update(0), files(0));
        PolicyUpdate first = log.stage(update(1), files(1));
        assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L);
        assertThat(names(dir.resolve(FileSystemWeightLog.ANNOUNCEMENTS))).containsExactly("v000000000000.json");
        // A job that failed before committing trains version 1 again: staging it again replaces the files.
        PolicyUpdate again = log.stage(update(1), files(11));
        assertThat(again.sha256()).isNotEqualTo(first.sha256());
        PolicyUpdate two = log.stage(update(2), files(2));
        log.commit(again);
        log.commit(again);
        log.commit(two);
        assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L, 1L, 2L);
        assertThat(verifiedWeights(log, log.versions().get(1))).containsExactly((byte) 11);
        try (VerifiedVersion v = log.readVerified(log.versions().get(2))) {
            assertThat(v.manifest().parent()).isEqualTo(1); // staged before it, committed before it
        }
        assertThatThrownBy(() -> log.commit(update(3))).hasMessageContaining("was not staged");
    }

    @Test
    void aPublicationDoesNotReadTheWholeLogAgain() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).optRetainVersions(5).build();
        log.initialize();
        log.publish(update(0), files(0));
        // Something unreadable among the announcements: a publisher that re-listed the store on every
        // publication (the cost grew with the log's length) would trip over it; this one read it once.
        Files.writeString(dir.resolve(FileSystemWeightLog.ANNOUNCEMENTS).resolve("v000000000099.json"), "not json");
        PolicyUpdate v1 = log.publish(update(1), files(1));
        assertThat(verifiedWeights(log, v1)).containsExactly((byte) 1);
    }

    @Test
    void aReaderPassesOverAVersionPrunedWhileItWasReadingIt() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).optRetainVersions(1).build();
        log.initialize();
        log.publish(update(0), files(0));
        // A reader that lists version 0, and meanwhile the publisher moves on (version 0 is pruned).
        io.optune.operators.weights.WeightLog reader = new io.optune.operators.weights.WeightLog() {
            boolean raced;

            @Override
            public PolicyUpdate stage(PolicyUpdate u, VersionWriter w) {
                throw new UnsupportedOperationException();
            }

            @Override
            public PolicyUpdate commit(PolicyUpdate u) {
                throw new UnsupportedOperationException();
            }

            @Override
            public java.io.InputStream open(String location, String name) throws IOException {
                if (!raced) {
                    raced = true;
                    log.publish(update(1), files(1));
                }
                return log.open(location, name);
            }

            @Override
            public List<PolicyUpdate> versions() throws IOException {
                return log.versions();
            }

            @Override
            public boolean isRetained(PolicyUpdate u) throws IOException {
                return log.isRetained(u);
            }
        };
        try (VerifiedVersion v = reader.newestVerified(e -> { })) {
            assertThat(v.update().version()).isEqualTo(1);
            assertThat(Files.readAllBytes(v.dir().resolve("model.safetensors"))).containsExactly((byte) 1);
        }
    }

    /** The signed log of {@link #signedLog}, keeping the newest 3 and every 4th version. */
    private static FileSystemWeightLog retaining(FileSystemWeightLog signed, Path keys) throws Exception {
        return FileSystemWeightLog.builder().setBasePath(signed.basePath()).optRetainVersions(3).optRetainEvery(4)
                .optSigner(new io.optune.operators.weights.PolicySigner(keys.resolve("policy-signing.key").toString(),
                        Hashing.sha256(new byte[] {42})))
                .optVerifier(io.optune.operators.weights.PolicyVerifier.fromFile(keys.resolve("policy-signing.pub")))
                .build();
    }

    private static List<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).toList();
        }
    }

    @Test
    void anUnwritableStoreFailsAtStartWithAClearMessage() throws Exception {
        Path file = Files.writeString(dir.resolve("not-a-dir"), "x");
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(file.resolve("weights").toUri().toString()).build();
        assertThatThrownBy(log::initialize).isInstanceOf(IOException.class).hasMessageContaining("not writable");
        assertThatThrownBy(() -> FileSystemWeightLog.builder().build()).hasMessageContaining("base path");
    }

    private FileSystemWeightLog signedLog(Path keys) throws Exception {
        io.optune.operators.weights.SigningKeys.generateInto(keys);
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.resolve("weights").toUri().toString())
                .optSigner(new io.optune.operators.weights.PolicySigner(keys.resolve("policy-signing.key").toString(),
                        Hashing.sha256(new byte[] {42})))
                .optVerifier(io.optune.operators.weights.PolicyVerifier.fromFile(keys.resolve("policy-signing.pub")))
                .build();
        log.initialize();
        return log;
    }

    /** What someone with write access to the store, but without the key, can do: write files directly. */
    private void forge(long version, byte[] model, Path signatureFrom) throws Exception {
        Path weights = dir.resolve("weights");
        String name = String.format("v%012d", version);
        Path versionDir = weights.resolve(FileSystemWeightLog.VERSIONS).resolve(name);
        Files.createDirectories(versionDir);
        Files.write(versionDir.resolve("model.safetensors"), model);
        byte[] manifest = VersionManifest.of(update(version), -1,
                java.util.Map.of("model.safetensors", Hashing.sha256(model))).bytes();
        Files.write(versionDir.resolve(VersionManifest.FILE), manifest);
        if (signatureFrom != null) {
            Files.copy(signatureFrom, weights.resolve(FileSystemWeightLog.SIGNATURES).resolve(name + ".json"));
        }
        PolicyUpdate u = new PolicyUpdate(version, 0, versionDir.toUri().toString(), Hashing.sha256(manifest), 1L, 0, 0, 0, 0, 0, 0);
        Files.writeString(weights.resolve(FileSystemWeightLog.ANNOUNCEMENTS).resolve(name + ".json"), io.optune.engine.Json.write(u));
    }

    @Test
    void signedVersionsVerifyAndForgedOnesAreRefused() throws Exception {
        FileSystemWeightLog log = signedLog(dir.resolve("keys"));
        for (long v = 0; v < 3; v++) {
            log.publish(update(v), files((int) v, 1));
        }
        Path signatures = dir.resolve("weights").resolve(FileSystemWeightLog.SIGNATURES);
        assertThat(verifiedWeights(log, log.latest().orElseThrow())).containsExactly(2, 1);
        assertThat(Files.readString(signatures.resolve(String.format("v%012d.json", 2)))).contains("\\nparent=1\\n"); // JSON-escaped statement lines

        forge(3, new byte[] {6, 6}, null); // unsigned
        forge(4, new byte[] {1, 1}, signatures.resolve(String.format("v%012d.json", 1))); // v1 replayed as v4
        forge(5, new byte[] {6, 6}, signatures.resolve(String.format("v%012d.json", 2))); // another snapshot, v2's signature
        for (long v = 3; v <= 5; v++) {
            PolicyUpdate forged = log.versions().get((int) v);
            assertThatThrownBy(() -> log.readVerified(forged))
                    .isInstanceOf(io.optune.operators.weights.UntrustedVersionException.class);
        }
        // A reader starting now skips all three and takes the newest genuine version.
        java.util.List<String> refused = new java.util.ArrayList<>();
        try (var newest = log.newestVerified(e -> refused.add(e.getMessage()))) {
            assertThat(newest.update().version()).isEqualTo(2);
        }
        assertThat(refused).hasSize(3);
        assertThat(refused.get(0)).contains("signature of version 2");
        assertThat(refused.get(1)).contains("signature of version 1");
        assertThat(refused.get(2)).contains("not signed");

        // A reader with another key trusts nothing here.
        FileSystemWeightLog otherKey = FileSystemWeightLog.builder().setBasePath(dir.resolve("weights").toUri().toString())
                .optVerifier(new io.optune.operators.weights.PolicyVerifier(io.optune.operators.weights.SigningKeys.generate().getPublic()))
                .build();
        assertThatThrownBy(() -> otherKey.newestVerified(e -> { })).hasMessageContaining("none of the 6 policy versions");
    }

    @Test
    void anUnsignedLogStillChecksTheAnnouncedHash() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        PolicyUpdate v = log.publish(update(0), files(1));
        Files.write(Path.of(java.net.URI.create(v.location())).resolve(VersionManifest.FILE), new byte[] {2});
        assertThatThrownBy(() -> log.readVerified(v)).isInstanceOf(io.optune.operators.weights.UntrustedVersionException.class)
                .hasMessageContaining("differs from the announced");
        assertThat(log.verifiesSignatures()).isFalse();
    }
}
