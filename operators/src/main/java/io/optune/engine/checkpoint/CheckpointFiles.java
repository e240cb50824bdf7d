package io.optune.engine.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * The files of one checkpoint directory, by name ({@code config.json}, {@code model.safetensors},
 * ...). The engine reads and writes checkpoints only through this, so any file system (local,
 * s3, hdfs through Flink's {@code FileSystem}) can hold them; {@link LocalCheckpointFiles} is the
 * local one.
 */
public interface CheckpointFiles {
    /** Opens a file of the directory for reading (a sequential stream is enough). */
    InputStream open(String name) throws IOException;

    boolean exists(String name) throws IOException;

    /**
     * The file's length in bytes, or -1 when the store cannot tell cheaply. Loaders check untrusted
     * headers against it before sizing anything by them.
     */
    default long size(String name) throws IOException {
        return -1;
    }

    /**
     * Creates (or replaces) a file of the directory for writing. Stores that cannot write say so.
     */
    default OutputStream create(String name) throws IOException {
        throw new IOException("checkpoint directory " + describe() + " is read-only");
    }

    /** Where this directory is, for messages. */
    String describe();
}
