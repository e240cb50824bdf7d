package io.optune.connectors.files.feedback;

import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Lists the feedback directory every poll interval and hands each committed file to one reader,
 * once, when a reader asks for work. Unlike Flink's continuous file enumerator, it forgets a file:
 * in the consuming mode once a listing no longer shows it (its reader deleted it after the
 * checkpoint that recorded its consumption), in the ordered mode as soon as it is assigned (a file
 * is new when its order is above the highest assigned).
 */
final class FeedbackEnumerator implements SplitEnumerator<FeedbackSplit, FeedbackEnumeratorState> {
    private static final Logger LOG = LoggerFactory.getLogger(FeedbackEnumerator.class);

    private final SplitEnumeratorContext<FeedbackSplit> context;
    private final Path directory;
    private final long pollIntervalMs;
    private final FeedbackDirectorySource.FileOrder order; // null: consuming mode

    private final LinkedHashSet<String> pending;
    private final Set<String> assigned;
    private long highestAssigned;
    private final LinkedHashSet<Integer> awaiting = new LinkedHashSet<>();

    FeedbackEnumerator(SplitEnumeratorContext<FeedbackSplit> context, Path directory, long pollIntervalMs,
            @Nullable FeedbackDirectorySource.FileOrder order, FeedbackEnumeratorState restored) {
        this.context = context;
        this.directory = directory;
        this.pollIntervalMs = pollIntervalMs;
        this.order = order;
        this.pending = new LinkedHashSet<>(restored.pending());
        this.assigned = new HashSet<>(restored.assigned());
        this.highestAssigned = restored.highestAssigned();
    }

    @Override
    public void start() {
        context.metricGroup().gauge("trackedFiles", () -> pending.size() + assigned.size());
        context.callAsync(this::list, this::onListing, 0, pollIntervalMs);
    }

    /** Committed files under the directory (hidden files and folders skipped), oldest first. Runs in a worker thread. */
    private List<String> list() throws IOException {
        FileSystem fs = directory.getFileSystem();
        List<FileStatus> files = new ArrayList<>();
        collect(fs, directory, files);
        Comparator<FileStatus> oldestFirst = order == null
                ? Comparator.comparingLong(FileStatus::getModificationTime).thenComparing(f -> f.getPath().getName())
                : Comparator.comparingLong(f -> order.of(f.getPath().getName()));
        files.sort(oldestFirst);
        List<String> out = new ArrayList<>(files.size());
        for (FileStatus f : files) {
            out.add(f.getPath().toString());
        }
        return out;
    }

    private void collect(FileSystem fs, Path dir, List<FileStatus> out) throws IOException {
        if (!fs.exists(dir)) {
            return;
        }
        FileStatus[] entries = listStatus(fs, dir);
        if (entries == null) {
            return;
        }
        for (FileStatus f : entries) {
            String name = f.getPath().getName();
            // Flink's file sink hides uncommitted parts behind a dot; '_' marks metadata files.
            if (name.startsWith(".") || name.startsWith("_")) {
                continue;
            }
            if (f.isDir()) {
                collect(fs, f.getPath(), out);
            } else if (order == null || order.of(name) >= 0) {
                out.add(f);
            }
        }
    }

    /**
     * Lists {@code dir}, again when a file vanished while it was listed (Flink's local file system then
     * throws): retention and consumption delete files here all the time, which is not a storage error.
     */
    private static FileStatus[] listStatus(FileSystem fs, Path dir) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                return fs.listStatus(dir);
            } catch (java.io.FileNotFoundException e) {
                if (!fs.exists(dir)) {
                    return null;
                }
                if (attempt >= 3) {
                    throw e;
                }
            }
        }
    }

    private void onListing(List<String> listed, Throwable error) {
        if (error != null) {
            // A passing storage error: keep what we know and try again at the next poll.
            LOG.warn("Could not list feedback directory {}: {}", directory, error.toString());
            return;
        }
        if (order == null) {
            Set<String> present = new HashSet<>(listed);
            // Gone from the listing: deleted by its reader after the checkpoint that recorded it.
            assigned.retainAll(present);
            pending.retainAll(present);
            for (String p : listed) {
                if (!assigned.contains(p)) {
                    pending.add(p);
                }
            }
        } else {
            for (String p : listed) {
                if (order.of(new Path(p).getName()) > highestAssigned) {
                    pending.add(p);
                }
            }
        }
        assignPending();
    }

    private void assignPending() {
        Iterator<Integer> readers = awaiting.iterator();
        while (readers.hasNext() && !pending.isEmpty()) {
            int subtask = readers.next();
            readers.remove();
            if (!context.registeredReaders().containsKey(subtask)) {
                continue; // failed meanwhile; it asks again once restarted
            }
            Iterator<String> next = pending.iterator();
            String path = next.next();
            next.remove();
            context.assignSplit(FeedbackSplit.unread(path), subtask);
            if (order == null) {
                assigned.add(path);
            } else {
                highestAssigned = Math.max(highestAssigned, order.of(new Path(path).getName()));
            }
        }
    }

    @Override
    public void handleSplitRequest(int subtaskId, @Nullable String requesterHostname) {
        awaiting.add(subtaskId);
        assignPending();
    }

    @Override
    public void addSplitsBack(List<FeedbackSplit> splits, int subtaskId) {
        // Assigned after the failed reader's last checkpoint: read them again, first.
        LinkedHashSet<String> again = new LinkedHashSet<>();
        for (FeedbackSplit s : splits) {
            assigned.remove(s.path());
            again.add(s.path());
        }
        again.addAll(pending);
        pending.clear();
        pending.addAll(again);
    }

    @Override
    public void addReader(int subtaskId) {
        // Readers ask for work themselves.
    }

    @Override
    public FeedbackEnumeratorState snapshotState(long checkpointId) {
        return new FeedbackEnumeratorState(new ArrayList<>(pending), new ArrayList<>(assigned), highestAssigned);
    }

    @Override
    public void close() {}
}
