package io.optune.connectors.files.feedback;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.connector.source.ReaderInfo;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SplitsAssignment;
import org.apache.flink.api.connector.source.mocks.MockSplitEnumeratorContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.metrics.groups.SourceReaderMetricGroup;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.util.UserCodeClassLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The feedback source's enumerator and reader, driven step by step. */
class FeedbackDirectorySourceTest {
    @TempDir
    Path dir;

    // ---- enumerator ----

    @Test
    void discoversCommittedFilesOnlyAndAssignsEachOnce() throws Throwable {
        write("part-a-0-0", "a1\n");
        write(".part-b-0-1.inprogress.123", "hidden\n");
        write("_SUCCESS", "");
        Files.createDirectories(dir.resolve(".staging"));
        write(".staging/part-c", "staged\n");
        Files.createDirectories(dir.resolve("bucket"));
        write("bucket/part-d-0-0", "d1\n");
        try (MockSplitEnumeratorContext<FeedbackSplit> ctx = new MockSplitEnumeratorContext<>(2)) {
            FeedbackEnumerator e = enumerator(ctx, FeedbackEnumeratorState.EMPTY);
            ctx.registerReader(new ReaderInfo(0, "h"));
            ctx.registerReader(new ReaderInfo(1, "h"));
            e.handleSplitRequest(0, "h");
            e.handleSplitRequest(1, "h");
            e.handleSplitRequest(0, "h");
            ctx.runPeriodicCallable(0);
            ctx.runPeriodicCallable(0); // a second listing sees the same files: nothing assigned twice
            e.handleSplitRequest(0, "h");
            e.handleSplitRequest(1, "h");
            assertThat(assignedPaths(ctx)).containsExactlyInAnyOrder(uri("part-a-0-0"), uri("bucket/part-d-0-0"));
            assertThat(e.snapshotState(1).assigned()).hasSize(2);
            assertThat(e.snapshotState(1).pending()).isEmpty();
        }
    }

    @Test
    void forgetsAFileOnceItsDeletionShowsInTheListingSoStateStaysFlat() throws Throwable {
        try (MockSplitEnumeratorContext<FeedbackSplit> ctx = new MockSplitEnumeratorContext<>(1)) {
            FeedbackEnumerator e = enumerator(ctx, FeedbackEnumeratorState.EMPTY);
            ctx.registerReader(new ReaderInfo(0, "h"));
            int[] sizes = new int[300];
            for (int i = 0; i < sizes.length; i++) {
                String name = String.format("part-x-0-%d", i);
                write(name, "line " + i + "\n");
                e.handleSplitRequest(0, "h");
                ctx.runPeriodicCallable(0);
                Files.delete(dir.resolve(name)); // what the reader does after the checkpoint completes
                ctx.runPeriodicCallable(0);
                sizes[i] = FeedbackEnumeratorStateSerializer.INSTANCE.serialize(e.snapshotState(i)).length;
            }
            assertThat(assignedPaths(ctx)).hasSize(sizes.length).doesNotHaveDuplicates();
            assertThat(e.snapshotState(999)).isEqualTo(new FeedbackEnumeratorState(List.of(), List.of(), -1));
            assertThat(sizes[sizes.length - 1]).isEqualTo(sizes[0]);
        }
    }

    @Test
    void aRestoredEnumeratorNeitherReassignsNorLosesFiles() throws Throwable {
        write("part-1", "1\n");
        write("part-2", "2\n");
        FeedbackEnumeratorState state;
        try (MockSplitEnumeratorContext<FeedbackSplit> ctx = new MockSplitEnumeratorContext<>(1)) {
            FeedbackEnumerator e = enumerator(ctx, FeedbackEnumeratorState.EMPTY);
            ctx.registerReader(new ReaderInfo(0, "h"));
            e.handleSplitRequest(0, "h");
            ctx.runPeriodicCallable(0);
            state = e.snapshotState(7);
        }
        assertThat(state.assigned()).hasSize(1);
        assertThat(state.pending()).hasSize(1);
        FeedbackEnumeratorState restored = FeedbackEnumeratorStateSerializer.INSTANCE.deserialize(1,
                FeedbackEnumeratorStateSerializer.INSTANCE.serialize(state));
        assertThat(restored).isEqualTo(state);
        try (MockSplitEnumeratorContext<FeedbackSplit> ctx = new MockSplitEnumeratorContext<>(1)) {
            FeedbackEnumerator e = enumerator(ctx, restored);
            ctx.registerReader(new ReaderInfo(0, "h"));
            ctx.runPeriodicCallable(0);
            e.handleSplitRequest(0, "h");
            e.handleSplitRequest(0, "h");
            assertThat(assignedPaths(ctx)).containsExactly(state.pending().get(0));
        }
    }

    @Test
    void splitsGivenBackAfterAReaderFailureAreAssignedAgain() throws Throwable {
        write("part-1", "1\n");
        try (MockSplitEnumeratorContext<FeedbackSplit> ctx = new MockSplitEnumeratorContext<>(1)) {
            FeedbackEnumerator e = enumerator(ctx, FeedbackEnumeratorState.EMPTY);
            ctx.registerReader(new ReaderInfo(0, "h"));
            e.handleSplitRequest(0, "h");
            ctx.runPeriodicCallable(0);
            e.addSplitsBack(List.of(FeedbackSplit.unread(uri("part-1"))), 0);
            e.handleSplitRequest(0, "h");
            assertThat(assignedPaths(ctx)).containsExactly(uri("part-1"), uri("part-1"));
        }
    }

    @Test
    void orderedModeKeepsFilesAndRemembersOnlyTheHighestOrder() throws Throwable {
        FeedbackDirectorySource.FileOrder version = name -> name.matches("v\\d+\\.json") ? Long.parseLong(name.substring(1, name.length() - 5)) : -1;
        try (MockSplitEnumeratorContext<FeedbackSplit> ctx = new MockSplitEnumeratorContext<>(1)) {
            FeedbackEnumerator e = new FeedbackEnumerator(ctx, new org.apache.flink.core.fs.Path(dir.toUri()), 100, version,
                    FeedbackEnumeratorState.EMPTY);
            e.start();
            ctx.registerReader(new ReaderInfo(0, "h"));
            write("notes.txt", "skip\n");
            int first = -1;
            for (int v = 0; v < 120; v++) {
                write(String.format("v%012d.json", v), "{}\n");
                e.handleSplitRequest(0, "h");
                ctx.runPeriodicCallable(0);
                int size = FeedbackEnumeratorStateSerializer.INSTANCE.serialize(e.snapshotState(v)).length;
                first = first < 0 ? size : first;
                assertThat(size).isEqualTo(first);
            }
            assertThat(assignedPaths(ctx)).hasSize(120).doesNotHaveDuplicates().isSorted();
            assertThat(e.snapshotState(1000)).isEqualTo(new FeedbackEnumeratorState(List.of(), List.of(), 119));
            try (var files = Files.list(dir)) {
                assertThat(files.count()).as("nothing deleted").isEqualTo(121);
            }
        }
    }

    // ---- reader ----

    @Test
    void restoredReaderContinuesAtTheCheckpointedLine() throws Exception {
        write("part-1", "a\nb\n\nc\nd");
        TestContext ctx = new TestContext();
        FeedbackReader r = new FeedbackReader(ctx, true);
        r.start();
        assertThat(ctx.splitRequests).isEqualTo(1);
        r.addSplits(List.of(FeedbackSplit.unread(uri("part-1"))));
        Collecting out = new Collecting();
        assertThat(r.pollNext(out)).isEqualTo(InputStatus.MORE_AVAILABLE);
        assertThat(r.pollNext(out)).isEqualTo(InputStatus.MORE_AVAILABLE);
        List<FeedbackSplit> state = r.snapshotState(1);
        assertThat(state).containsExactly(new FeedbackSplit(uri("part-1"), 4, false));
        r.close();

        FeedbackReader again = new FeedbackReader(new TestContext(), true);
        again.addSplits(restore(state));
        again.start();
        Collecting rest = new Collecting();
        drain(again, rest);
        assertThat(out.lines).containsExactly("a", "b");
        assertThat(rest.lines).containsExactly("c", "d");
    }

    @Test
    void aConsumedFileIsDeletedOnlyWhenACheckpointAfterItCompletes() throws Exception {
        write("part-1", "a\n");
        write("part-2", "b\n");
        TestContext ctx = new TestContext();
        FeedbackReader r = new FeedbackReader(ctx, true);
        r.start();
        r.addSplits(List.of(FeedbackSplit.unread(uri("part-1"))));
        Collecting out = new Collecting();
        drain(r, out);
        assertThat(ctx.splitRequests).as("asks for more once done").isEqualTo(2);
        r.notifyCheckpointComplete(0); // a checkpoint taken before part-1 was finished
        assertThat(dir.resolve("part-1")).exists();

        assertThat(r.snapshotState(1)).containsExactly(new FeedbackSplit(uri("part-1"), 0, true));
        r.addSplits(List.of(FeedbackSplit.unread(uri("part-2"))));
        drain(r, out);
        assertThat(dir.resolve("part-1")).as("not before its checkpoint completes").exists();
        r.notifyCheckpointAborted(1);
        assertThat(dir.resolve("part-1")).as("never on an aborted checkpoint").exists();
        assertThat(r.snapshotState(2)).containsExactlyInAnyOrder(new FeedbackSplit(uri("part-1"), 0, true),
                new FeedbackSplit(uri("part-2"), 0, true));
        r.notifyCheckpointComplete(1); // late notification of the aborted one: covers part-1 only
        assertThat(dir.resolve("part-1")).doesNotExist();
        assertThat(dir.resolve("part-2")).exists();
        r.notifyCheckpointComplete(2);
        assertThat(dir.resolve("part-2")).doesNotExist();
        assertThat(r.snapshotState(3)).isEmpty();
        assertThat(out.lines).containsExactly("a", "b");
        // Each split's output is released once read, or Flink keeps its per-split resources for ever.
        assertThat(out.released).containsExactly(FeedbackSplit.unread(uri("part-1")).splitId(), FeedbackSplit.unread(uri("part-2")).splitId());
    }

    @Test
    void aRestartBeforeTheCheckpointCompletesReadsTheFileAgainAndAfterItStillDeletesIt() throws Exception {
        write("part-1", "a\n");
        FeedbackReader r = new FeedbackReader(new TestContext(), true);
        List<FeedbackSplit> before = r.snapshotState(1); // nothing assigned yet
        r.addSplits(List.of(FeedbackSplit.unread(uri("part-1"))));
        drain(r, new Collecting());
        List<FeedbackSplit> after = r.snapshotState(2);
        r.close(); // fails before checkpoint 2 completes: nothing deleted
        assertThat(dir.resolve("part-1")).exists();
        assertThat(before).isEmpty(); // restoring checkpoint 1 gets part-1 again from the enumerator

        // Checkpoint 2 completed but its notification was lost: the restored reader deletes the file
        // after the next checkpoint completes, without reading it again.
        FeedbackReader restored = new FeedbackReader(new TestContext(), true);
        restored.addSplits(restore(after));
        restored.start();
        Collecting out = new Collecting();
        drain(restored, out);
        assertThat(out.lines).isEmpty();
        assertThat(out.released).as("a consumed split is released too").containsExactly(new FeedbackSplit(uri("part-1"), 0, true).splitId());
        assertThat(dir.resolve("part-1")).exists();
        assertThat(restored.snapshotState(3)).containsExactly(new FeedbackSplit(uri("part-1"), 0, true));
        restored.notifyCheckpointComplete(3);
        assertThat(dir.resolve("part-1")).doesNotExist();
    }

    @Test
    void aFileGoneBeforeItWasReadIsSkippedAndItsSplitReleased() throws Exception {
        write("part-2", "b\n");
        FeedbackReader r = new FeedbackReader(new TestContext(), true);
        r.addSplits(List.of(FeedbackSplit.unread(uri("part-1")), FeedbackSplit.unread(uri("part-2"))));
        Collecting out = new Collecting();
        drain(r, out);
        assertThat(out.lines).containsExactly("b");
        assertThat(out.released).containsExactly(uri("part-1"), uri("part-2"));
    }

    @Test
    void nonConsumingReaderNeverDeletes() throws Exception {
        write("v1.json", "{}\n");
        FeedbackReader r = new FeedbackReader(new TestContext(), false);
        r.addSplits(List.of(FeedbackSplit.unread(uri("v1.json"))));
        Collecting out = new Collecting();
        drain(r, out);
        assertThat(r.snapshotState(1)).isEmpty();
        r.notifyCheckpointComplete(1);
        assertThat(dir.resolve("v1.json")).exists();
        assertThat(out.lines).containsExactly("{}");
    }

    @Test
    void splitSerializerRoundTrips() throws IOException {
        FeedbackSplit s = new FeedbackSplit("file:/tmp/feedback/part-\u00e9-1", 12345, true);
        assertThat(FeedbackSplitSerializer.INSTANCE.deserialize(1, FeedbackSplitSerializer.INSTANCE.serialize(s))).isEqualTo(s);
    }

    // ---- helpers ----

    private FeedbackEnumerator enumerator(MockSplitEnumeratorContext<FeedbackSplit> ctx, FeedbackEnumeratorState state) {
        FeedbackEnumerator e = new FeedbackEnumerator(ctx, new org.apache.flink.core.fs.Path(dir.toUri()), 100, null, state);
        e.start();
        return e;
    }

    private void write(String name, String text) throws IOException {
        Files.writeString(dir.resolve(name), text);
    }

    private String uri(String name) {
        return new org.apache.flink.core.fs.Path(dir.resolve(name).toUri()).toString();
    }

    private static List<String> assignedPaths(MockSplitEnumeratorContext<FeedbackSplit> ctx) {
        List<String> out = new ArrayList<>();
        for (SplitsAssignment<FeedbackSplit> a : ctx.getSplitsAssignmentSequence()) {
            a.assignment().values().forEach(splits -> splits.forEach(s -> out.add(s.path())));
        }
        return out;
    }

    private static List<FeedbackSplit> restore(List<FeedbackSplit> state) throws IOException {
        List<FeedbackSplit> out = new ArrayList<>();
        for (FeedbackSplit s : state) {
            out.add(FeedbackSplitSerializer.INSTANCE.deserialize(1, FeedbackSplitSerializer.INSTANCE.serialize(s)));
        }
        return out;
    }

    private static void drain(FeedbackReader r, Collecting out) throws Exception {
        for (int i = 0; i < 1000; i++) {
            if (r.pollNext(out) != InputStatus.MORE_AVAILABLE) {
                return;
            }
        }
        throw new AssertionError("reader did not run dry");
    }

    static final class TestContext implements SourceReaderContext {
        int splitRequests;

        @Override
        public SourceReaderMetricGroup metricGroup() {
            return UnregisteredMetricsGroup.createSourceReaderMetricGroup();
        }

        @Override
        public Configuration getConfiguration() {
            return new Configuration();
        }

        @Override
        public String getLocalHostName() {
            return "localhost";
        }

        @Override
        public int getIndexOfSubtask() {
            return 0;
        }

        @Override
        public void sendSplitRequest() {
            splitRequests++;
        }

        @Override
        public void sendSourceEventToCoordinator(SourceEvent sourceEvent) {}

        @Override
        public UserCodeClassLoader getUserCodeClassLoader() {
            return null;
        }
    }

    static final class Collecting implements ReaderOutput<String> {
        final List<String> lines = new ArrayList<>();

        @Override
        public void collect(String record) {
            lines.add(record);
        }

        @Override
        public void collect(String record, long timestamp) {
            lines.add(record);
        }

        @Override
        public void emitWatermark(Watermark watermark) {}

        @Override
        public void markIdle() {}

        @Override
        public void markActive() {}

        @Override
        public SourceOutput<String> createOutputForSplit(String splitId) {
            return this;
        }

        /** Split ids released, in order: Flink frees a split's output, listener and metric group only then. */
        final List<String> released = new ArrayList<>();

        @Override
        public void releaseOutputForSplit(String splitId) {
            assertThat(released).as("released once").doesNotContain(splitId);
            released.add(splitId);
        }
    }
}
