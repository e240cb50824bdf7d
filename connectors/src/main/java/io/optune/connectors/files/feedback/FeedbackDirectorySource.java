package io.optune.connectors.files.feedback;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.io.SimpleVersionedSerializer;

import java.io.Serializable;
import java.time.Duration;
import java.util.Objects;

/**
 * A continuous source of the lines of committed files in a directory that the job itself writes (a
 * feedback edge), with storage and source state bounded over an unbounded run. Two modes:
 *
 * <ul>
 *   <li>{@link #consuming}: every file is read once and then deleted, but only when a checkpoint
 *       taken after it was read completes (never before: a restart from an earlier checkpoint reads it
 *       again). The enumerator remembers a file only while it is pending, being read or awaiting its
 *       deletion. For directories the job owns, never for user input.
 *   <li>{@link #ordered}: files are left to their owner (the weight log prunes its announcements itself);
 *       each name carries a monotone order (a version) and the enumerator remembers only the highest
 *       order assigned, so files must appear in increasing order.
 * </ul>
 *
 * <pre>{@code
 * env.fromSource(FeedbackDirectorySource.consuming("s3://bucket/optune/feedback", Duration.ofMillis(500)),
 *         WatermarkStrategy.noWatermarks(), "memory-feedback-source");
 * }</pre>
 *
 * Hidden files ({@code .name}, {@code _name}: Flink's file sink keeps uncommitted parts behind a dot)
 * and hidden folders are skipped; visible subfolders are read too.
 */
public final class FeedbackDirectorySource implements Source<String, FeedbackSplit, FeedbackEnumeratorState>, ResultTypeQueryable<String> {
    private static final long serialVersionUID = 1L;

    /** The order of a file from its name; a negative value skips the file. */
    @FunctionalInterface
    public interface FileOrder extends Serializable {
        long of(String fileName);
    }

    private final String directory;
    private final long pollIntervalMs;
    private final FileOrder order;

    private FeedbackDirectorySource(String directory, Duration pollInterval, FileOrder order) {
        this.directory = Objects.requireNonNull(directory, "directory");
        if (pollInterval.isNegative() || pollInterval.isZero()) {
            throw new IllegalArgumentException("the poll interval of " + directory + " must be positive, got " + pollInterval);
        }
        this.pollIntervalMs = pollInterval.toMillis();
        this.order = order;
    }

    /** Reads each committed file once and deletes it after the checkpoint that recorded its consumption. */
    public static FeedbackDirectorySource consuming(String directory, Duration pollInterval) {
        return new FeedbackDirectorySource(directory, pollInterval, null);
    }

    /** Reads each file whose order is above every file read before; deletes nothing. */
    public static FeedbackDirectorySource ordered(String directory, Duration pollInterval, FileOrder order) {
        return new FeedbackDirectorySource(directory, pollInterval, Objects.requireNonNull(order, "order"));
    }

    public boolean deletesConsumedFiles() {
        return order == null;
    }

    @Override
    public Boundedness getBoundedness() {
        return Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SourceReader<String, FeedbackSplit> createReader(SourceReaderContext context) {
        return new FeedbackReader(context, deletesConsumedFiles());
    }

    @Override
    public SplitEnumerator<FeedbackSplit, FeedbackEnumeratorState> createEnumerator(SplitEnumeratorContext<FeedbackSplit> context) {
        return restoreEnumerator(context, FeedbackEnumeratorState.EMPTY);
    }

    @Override
    public SplitEnumerator<FeedbackSplit, FeedbackEnumeratorState> restoreEnumerator(SplitEnumeratorContext<FeedbackSplit> context,
            FeedbackEnumeratorState state) {
        return new FeedbackEnumerator(context, new Path(directory), pollIntervalMs, order, state);
    }

    @Override
    public SimpleVersionedSerializer<FeedbackSplit> getSplitSerializer() {
        return FeedbackSplitSerializer.INSTANCE;
    }

    @Override
    public SimpleVersionedSerializer<FeedbackEnumeratorState> getEnumeratorCheckpointSerializer() {
        return FeedbackEnumeratorStateSerializer.INSTANCE;
    }

    @Override
    public TypeInformation<String> getProducedType() {
        return Types.STRING;
    }
}
