package io.optune.connectors.files.feedback;

import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.metrics.Counter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * Reads its assigned feedback files line by line, one file at a time, and checkpoints the byte
 * offset of the next line. In the consuming mode a file read to its end is deleted only in
 * {@link #notifyCheckpointComplete} of a checkpoint taken after it was finished: until then it stays
 * in this reader's state (as consumed), so a restart from any earlier checkpoint reads it again and
 * a restart from a later one still deletes it. An aborted checkpoint deletes nothing; the next
 * completed one covers its files.
 *
 * <p>Reading runs on the task thread: feedback files are small (one per checkpoint and writer), and
 * this keeps the reader free of fetcher threads.
 *
 * <p>Every split this reader is given is released ({@link ReaderOutput#releaseOutputForSplit}) once it
 * is done with it, read, skipped or gone: Flink's source operator creates a per-split output, a
 * back-pressure listener and a split metric group for each split it hands over, and frees them only
 * then. Without it a feedback source, which gets a new split per file (one per checkpoint and writer),
 * grew them without bound (about 6,600 after 40 minutes of a soak run).
 */
final class FeedbackReader implements SourceReader<String, FeedbackSplit> {
    private static final Logger LOG = LoggerFactory.getLogger(FeedbackReader.class);

    private final SourceReaderContext context;
    private final boolean deleteConsumed;
    private final Counter deleted;
    private final Counter released;

    private final ArrayDeque<FeedbackSplit> queue = new ArrayDeque<>();
    private FeedbackSplit current;
    private InputStream in;
    private long offset;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream(256);

    /** Consumed files not yet part of a checkpoint, and those recorded by the checkpoint with that id. */
    private List<String> consumedSinceSnapshot = new ArrayList<>();
    private final TreeMap<Long, List<String>> consumedAt = new TreeMap<>();

    private CompletableFuture<Void> available = new CompletableFuture<>();
    private boolean splitRequested;
    private boolean noMoreSplits;

    FeedbackReader(SourceReaderContext context, boolean deleteConsumed) {
        this.context = context;
        this.deleteConsumed = deleteConsumed;
        this.deleted = context.metricGroup().counter("feedbackFilesDeleted");
        this.released = context.metricGroup().counter("feedbackSplitsReleased");
    }

    @Override
    public void start() {
        requestSplit();
    }

    @Override
    public InputStatus pollNext(ReaderOutput<String> output) throws Exception {
        while (true) {
            if (current == null) {
                FeedbackSplit next = queue.poll();
                if (next == null) {
                    if (noMoreSplits) {
                        return InputStatus.END_OF_INPUT;
                    }
                    requestSplit();
                    if (available.isDone()) {
                        available = new CompletableFuture<>();
                    }
                    return InputStatus.NOTHING_AVAILABLE;
                }
                if (next.consumed()) {
                    consumedSinceSnapshot.add(next.path()); // restored: delete once a new checkpoint records it
                    release(output, next);
                    continue;
                }
                if (!open(next)) {
                    release(output, next);
                    continue;
                }
            }
            String l = readLine();
            if (l == null) {
                FeedbackSplit done = current;
                finishCurrent();
                release(output, done);
                continue;
            }
            if (!l.isBlank()) {
                output.collect(l);
                return InputStatus.MORE_AVAILABLE;
            }
        }
    }

    private void release(ReaderOutput<String> output, FeedbackSplit split) {
        output.releaseOutputForSplit(split.splitId());
        released.inc();
    }

    private boolean open(FeedbackSplit split) throws IOException {
        Path path = new Path(split.path());
        FSDataInputStream stream;
        try {
            stream = path.getFileSystem().open(path);
        } catch (FileNotFoundException e) {
            // Only possible when something else deleted it, or a run restored a checkpoint older than
            // the newest completed one: its lines cannot be read any more.
            LOG.warn("Feedback file {} is gone before it was read (from byte {}); its records are skipped", path, split.offset());
            return false;
        }
        stream.seek(split.offset());
        current = split;
        offset = split.offset();
        in = new BufferedInputStream(stream, 64 * 1024);
        return true;
    }

    /** The next line without its newline, or null at the end of the file. Advances {@link #offset}. */
    private String readLine() throws IOException {
        line.reset();
        int b;
        while ((b = in.read()) != -1) {
            offset++;
            if (b == '\n') {
                return line.toString(StandardCharsets.UTF_8);
            }
            line.write(b);
        }
        return line.size() > 0 ? line.toString(StandardCharsets.UTF_8) : null;
    }

    private void finishCurrent() throws IOException {
        in.close();
        in = null;
        if (deleteConsumed) {
            consumedSinceSnapshot.add(current.path());
        }
        current = null;
    }

    private void requestSplit() {
        if (!splitRequested) {
            splitRequested = true;
            context.sendSplitRequest();
        }
    }

    @Override
    public List<FeedbackSplit> snapshotState(long checkpointId) {
        if (!consumedSinceSnapshot.isEmpty()) {
            consumedAt.put(checkpointId, consumedSinceSnapshot);
            consumedSinceSnapshot = new ArrayList<>();
        }
        List<FeedbackSplit> state = new ArrayList<>();
        if (current != null) {
            state.add(new FeedbackSplit(current.path(), offset, false));
        }
        state.addAll(queue);
        for (List<String> paths : consumedAt.values()) {
            for (String p : paths) {
                state.add(new FeedbackSplit(p, 0, true));
            }
        }
        return state;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
        Map<Long, List<String>> covered = consumedAt.headMap(checkpointId, true);
        for (List<String> paths : covered.values()) {
            for (String p : paths) {
                try {
                    Path path = new Path(p);
                    if (path.getFileSystem().delete(path, false)) {
                        deleted.inc();
                    }
                } catch (IOException e) {
                    // Still recorded as consumed: retried after the next completed checkpoint.
                    LOG.warn("Could not delete consumed feedback file {}: {}", p, e.toString());
                    consumedSinceSnapshot.add(p);
                }
            }
        }
        covered.clear();
    }

    @Override
    public CompletableFuture<Void> isAvailable() {
        return available;
    }

    @Override
    public void addSplits(List<FeedbackSplit> splits) {
        queue.addAll(splits);
        splitRequested = false;
        available.complete(null);
    }

    @Override
    public void notifyNoMoreSplits() {
        noMoreSplits = true;
        available.complete(null);
    }

    @Override
    public void close() throws IOException {
        if (in != null) {
            in.close();
        }
    }
}
