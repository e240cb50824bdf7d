package io.optune.connectors.files.feedback;

import org.apache.flink.api.connector.source.SourceSplit;

import java.util.Objects;

/**
 * One committed file of a feedback directory: its path (the split id), the byte offset of the next
 * unread line, and whether it was read to its end. A consumed split is kept in the reader's state
 * only until the checkpoint that recorded it completes and the file is deleted.
 */
public record FeedbackSplit(String path, long offset, boolean consumed) implements SourceSplit {
    public FeedbackSplit {
        Objects.requireNonNull(path, "path");
        if (offset < 0) {
            throw new IllegalArgumentException("offset must be >= 0, got " + offset);
        }
    }

    static FeedbackSplit unread(String path) {
        return new FeedbackSplit(path, 0, false);
    }

    @Override
    public String splitId() {
        return path;
    }
}
