package io.optune.operators.weights;

import io.optune.engine.checkpoint.CheckpointFiles;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Writes the files of one policy version (a Hugging Face checkpoint directory) into the directory a
 * {@link WeightLog} stages it in. The log adds the manifest; the writer must not.
 */
@FunctionalInterface
public interface VersionWriter {
    void write(CheckpointFiles dir) throws IOException;

    /** Copies the files of a local version directory (a {@link VerifiedVersion}'s), all but its manifest. */
    static VersionWriter copyOf(Path source) {
        return dir -> {
            try (Stream<Path> files = Files.list(source)) {
                for (Path f : (Iterable<Path>) files.sorted()::iterator) {
                    String name = f.getFileName().toString();
                    if (Files.isRegularFile(f) && !name.equals(VersionManifest.FILE)) {
                        try (OutputStream out = dir.create(name)) {
                            Files.copy(f, out);
                        }
                    }
                }
            }
        };
    }
}
