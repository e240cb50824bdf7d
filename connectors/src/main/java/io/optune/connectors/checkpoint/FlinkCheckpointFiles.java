package io.optune.connectors.checkpoint;

import io.optune.engine.checkpoint.CheckpointFiles;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * A Hugging Face checkpoint directory on any Flink {@link FileSystem} (file://, s3://, hdfs://
 * through Flink's file system plugins), so {@code optune.policy.checkpoint} may name any of them.
 * Reads are sequential streams, which is all the engine's loader needs.
 */
public final class FlinkCheckpointFiles implements CheckpointFiles {
    private final Path dir;

    public FlinkCheckpointFiles(Path dir) {
        this.dir = dir;
    }

    /** For a URI or path string such as {@code s3://bucket/models/qwen3-0.6b}. */
    public static FlinkCheckpointFiles of(String dir) {
        return new FlinkCheckpointFiles(new Path(dir));
    }

    @Override
    public InputStream open(String name) throws IOException {
        Path p = resolve(name);
        return new BufferedInputStream(p.getFileSystem().open(p), 1 << 20);
    }

    @Override
    public boolean exists(String name) throws IOException {
        Path p = resolve(name);
        FileSystem fs = p.getFileSystem();
        return fs.exists(p) && !fs.getFileStatus(p).isDir();
    }

    @Override
    public long size(String name) throws IOException {
        Path p = resolve(name);
        return p.getFileSystem().getFileStatus(p).getLen();
    }

    @Override
    public OutputStream create(String name) throws IOException {
        Path p = resolve(name);
        return new BufferedOutputStream(p.getFileSystem().create(p, FileSystem.WriteMode.OVERWRITE), 1 << 20);
    }

    private Path resolve(String name) {
        if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.startsWith(".")) {
            throw new IllegalArgumentException("'" + name + "' is not a plain file name of the checkpoint directory");
        }
        return new Path(dir, name);
    }

    @Override
    public String describe() {
        return dir.toString();
    }
}
