package io.optune.engine.checkpoint;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** A checkpoint directory on the local file system. */
public final class LocalCheckpointFiles implements CheckpointFiles {
    private final Path dir;

    public LocalCheckpointFiles(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    @Override
    public InputStream open(String name) throws IOException {
        return new BufferedInputStream(Files.newInputStream(resolve(name)), 1 << 20);
    }

    @Override
    public boolean exists(String name) {
        return Files.isRegularFile(resolve(name));
    }

    @Override
    public long size(String name) throws IOException {
        return Files.size(resolve(name));
    }

    @Override
    public OutputStream create(String name) throws IOException {
        Files.createDirectories(dir);
        return new BufferedOutputStream(Files.newOutputStream(resolve(name)), 1 << 20);
    }

    private Path resolve(String name) {
        Path p = dir.resolve(name).normalize();
        if (!p.startsWith(dir.normalize())) {
            throw new IllegalArgumentException("file name '" + name + "' leaves the checkpoint directory");
        }
        return p;
    }

    @Override
    public String describe() {
        return dir.toString();
    }
}
