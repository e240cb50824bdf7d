package io.optune.operators.weights;

import io.optune.operators.records.PolicyUpdate;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A published version whose files were all checked against its manifest (and the manifest against
 * the announcement and signature) while being copied into {@link #dir()}, a private local directory:
 * what is loaded is exactly what was checked, wherever the log lives. Closing deletes the copy.
 */
public record VerifiedVersion(PolicyUpdate update, VersionManifest manifest, Path dir) implements AutoCloseable {

    @Override
    public void close() {
        deleteTree(dir);
    }

    static void deleteTree(Path dir) {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the local copy " + dir, e);
        }
    }
}
