package io.optune.operators.train;

import io.optune.engine.checkpoint.CheckpointFiles;

import java.io.IOException;
import java.io.Serializable;

/**
 * Where the trainer's frozen reference model comes from when it starts without checkpointed state
 * ({@code optune.reference.checkpoint}); without one the reference is the starting policy. Serializable
 * configuration: the files are opened in the task.
 */
@FunctionalInterface
public interface ReferenceSource extends Serializable {
    CheckpointFiles open() throws IOException;
}
