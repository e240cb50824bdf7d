package io.optune.connectors.weights;

import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FileSystemWeightLogTest {
    @TempDir
    Path dir;

    private static PolicyUpdate update(long version) {
        return new PolicyUpdate(version, version * 10, null, null, 123L, 0.5, 1.0, 0.1, 0.8, 0.4, 0.7);
    }

    @Test
    void publishesReadsAndListsVersionsInOrder() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        assertThat(log.latest()).isEmpty();
        for (long v : new long[] {2, 0, 1}) {
            PolicyUpdate a = log.publish(update(v), new byte[] {(byte) v, 9});
            assertThat(a.sha256()).isEqualTo(Hashing.sha256(new byte[] {(byte) v, 9}));
            assertThat(a.location()).endsWith(String.format("policy-v%012d.safetensors", v));
        }
        assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L, 1L, 2L);
        PolicyUpdate latest = log.latest().orElseThrow();
        assertThat(latest.heldOutReward()).isEqualTo(0.7);
        assertThat(log.read(latest.location())).containsExactly(2, 9);
        // No temporary files are left behind, and nothing visible is hidden-named (unsigned: no signature files).
        try (Stream<Path> files = Files.walk(dir)) {
            assertThat(files.filter(Files::isRegularFile).map(p -> p.getFileName().toString()))
                    .noneMatch(n -> n.startsWith(".")).hasSize(7);
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
            log.publish(update(v), new byte[] {(byte) v});
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
        log.publish(update(1), new byte[] {1});
        assertThatThrownBy(() -> log.publish(update(1), new byte[] {2})).isInstanceOf(IOException.class)
                .hasMessageContaining("already published");
        assertThat(log.read(log.latest().orElseThrow().location())).containsExactly(1);
    }

    @Test
    void anUnannouncedSnapshotLeftByACrashIsReplaced() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        log.publish(update(1), new byte[] {1});
        // A crash between snapshot and announcement of version 2 left this behind.
        Path stale = dir.resolve(FileSystemWeightLog.SNAPSHOTS).resolve(String.format("policy-v%012d.safetensors", 2));
        Files.write(stale, new byte[] {9, 9});
        var announced = log.publish(update(2), new byte[] {2});
        assertThat(log.read(announced.location())).containsExactly(2);
        assertThat(announced.sha256()).isEqualTo(io.optune.engine.snapshot.Hashing.sha256(new byte[] {2}));
    }

    @Test
    void retainsOnlyTheNewestSnapshots() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).optRetainVersions(2).build();
        log.initialize();
        for (long v = 0; v < 5; v++) {
            log.publish(update(v), new byte[] {(byte) v});
        }
        try (Stream<Path> files = Files.list(dir.resolve(FileSystemWeightLog.SNAPSHOTS))) {
            assertThat(files.map(p -> p.getFileName().toString()))
                    .containsExactlyInAnyOrder("policy-v000000000003.safetensors", "policy-v000000000004.safetensors");
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
    private void forge(long version, byte[] snapshot, Path signatureFrom) throws Exception {
        Path weights = dir.resolve("weights");
        String name = String.format("v%012d", version);
        Path snap = weights.resolve(FileSystemWeightLog.SNAPSHOTS).resolve("policy-" + name + ".safetensors");
        Files.write(snap, snapshot);
        if (signatureFrom != null) {
            Files.copy(signatureFrom, weights.resolve(FileSystemWeightLog.SIGNATURES).resolve(name + ".json"));
        }
        PolicyUpdate u = new PolicyUpdate(version, 0, snap.toUri().toString(), Hashing.sha256(snapshot), 1L, 0, 0, 0, 0, 0, 0);
        Files.writeString(weights.resolve(FileSystemWeightLog.ANNOUNCEMENTS).resolve(name + ".json"), io.optune.engine.Json.write(u));
    }

    @Test
    void signedVersionsVerifyAndForgedOnesAreRefused() throws Exception {
        FileSystemWeightLog log = signedLog(dir.resolve("keys"));
        for (long v = 0; v < 3; v++) {
            log.publish(update(v), new byte[] {(byte) v, 1});
        }
        Path signatures = dir.resolve("weights").resolve(FileSystemWeightLog.SIGNATURES);
        assertThat(log.readVerified(log.latest().orElseThrow())).containsExactly(2, 1);
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
        var newest = log.newestVerified(e -> refused.add(e.getMessage()));
        assertThat(newest.update().version()).isEqualTo(2);
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
        PolicyUpdate v = log.publish(update(0), new byte[] {1});
        Files.write(Path.of(java.net.URI.create(v.location())), new byte[] {2});
        assertThatThrownBy(() -> log.readVerified(v)).isInstanceOf(io.optune.operators.weights.UntrustedVersionException.class)
                .hasMessageContaining("differs from the announced");
        assertThat(log.verifiesSignatures()).isFalse();
    }
}
