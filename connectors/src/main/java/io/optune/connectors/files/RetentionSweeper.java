package io.optune.connectors.files;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * Retention for the job's own file outputs that may hold user text (dead letters, the pair audit):
 * a pass-through operator (parallelism 1, in front of one of those sinks) that every {@code interval}
 * deletes the committed part files ({@code part-*}, written by the job's file sinks) older than
 * {@code maxAge} under the given directories. In-progress files (hidden, dot-prefixed) and any other
 * file are never touched: nothing a user put there is deleted.
 */
public final class RetentionSweeper<T> extends AbstractStreamOperator<T>
        implements OneInputStreamOperator<T, T>, ProcessingTimeService.ProcessingTimeCallback {
    /** Under this class's name (the inherited one is Flink's operator logger, filtered with Flink's). */
    private static final Logger LOG = LoggerFactory.getLogger(RetentionSweeper.class);
    private static final long serialVersionUID = 1L;

    private final List<String> directories;
    private final long maxAgeMs;
    private final long intervalMs;

    public RetentionSweeper(List<String> directories, Duration maxAge, Duration interval) {
        if (maxAge.isNegative() || maxAge.isZero() || interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("retention and its sweep interval must be positive");
        }
        this.directories = List.copyOf(directories);
        this.maxAgeMs = maxAge.toMillis();
        this.intervalMs = interval.toMillis();
    }

    @Override
    public void open() throws Exception {
        super.open();
        ProcessingTimeService time = getProcessingTimeService();
        time.registerTimer(time.getCurrentProcessingTime() + intervalMs, this);
    }

    @Override
    public void processElement(StreamRecord<T> element) {
        output.collect(element);
    }

    @Override
    public void onProcessingTime(long now) {
        int deleted = 0;
        long cutoff = System.currentTimeMillis() - maxAgeMs; // file times are wall-clock times
        for (String dir : directories) {
            try {
                deleted += sweep(new Path(dir), cutoff);
            } catch (IOException e) {
                LOG.warn("Retention sweep of {} failed: {}", dir, e.getMessage());
            }
        }
        if (deleted > 0) {
            LOG.info("Retention: deleted {} part files older than {} under {}", deleted, Duration.ofMillis(maxAgeMs), directories);
        }
        getProcessingTimeService().registerTimer(now + intervalMs, this);
    }

    /** Deletes committed part files modified before {@code cutoff} under {@code dir}; returns how many. */
    public static int sweep(Path dir, long cutoff) throws IOException {
        FileSystem fs = dir.getFileSystem();
        if (!fs.exists(dir)) {
            return 0;
        }
        int deleted = 0;
        FileStatus[] entries = fs.listStatus(dir);
        if (entries == null) {
            return 0;
        }
        for (FileStatus f : entries) {
            String name = f.getPath().getName();
            if (f.isDir()) {
                if (!name.startsWith(".")) {
                    deleted += sweep(f.getPath(), cutoff);
                }
            } else if (name.startsWith("part-") && f.getModificationTime() < cutoff && fs.delete(f.getPath(), false)) {
                deleted++;
            }
        }
        return deleted;
    }
}
