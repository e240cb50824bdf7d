package io.optune.operators.records;

import io.optune.engine.Json;

import java.util.Optional;

/** A prompt's new response memory, fed back from the pair step to the select step. */
public record MemoryUpdate(String promptId, StoredPair memory) {

    /**
     * One line of the memory-feedback files, or empty when it is not a complete update of the
     * current layout (a layout-1 line holds texts where ids are expected): such a line must not fail
     * the job over and over, and its prompt is simply generated afresh.
     */
    public static Optional<MemoryUpdate> parse(String line) {
        MemoryUpdate u;
        try {
            u = Json.read(line, MemoryUpdate.class);
        } catch (RuntimeException e) {
            return Optional.empty();
        }
        StoredPair m = u == null ? null : u.memory();
        if (m == null || u.promptId() == null || m.promptIds() == null || m.chosen() == null || m.rejected() == null) {
            return Optional.empty();
        }
        return Optional.of(u);
    }
}
