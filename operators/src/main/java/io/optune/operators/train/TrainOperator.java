package io.optune.operators.train;

import io.optune.engine.train.TrainerState;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferenceBatch;
import org.apache.flink.runtime.checkpoint.CheckpointOptions;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.DefaultOperatorStateBackend;
import org.apache.flink.runtime.state.OperatorStateCheckpointOutputStream;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.SnapshotResult;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StatePartitionStreamProvider;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.streaming.api.operators.OperatorSnapshotFutures;
import org.apache.flink.streaming.api.operators.ProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Map;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RunnableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Hosts {@link TrainFunction} and checkpoints its trainer (policy, reference, AdamW moments, step)
 * as a stream of raw operator state: the tensors go one by one from the engine to a file on the
 * checkpoint storage, never through one Java array, so the state has no 2 GB ceiling and costs no
 * heap copy. Flink owns those files like any other state: they belong to the checkpoint (or
 * savepoint) that wrote them and are deleted when it is subsumed, never before. The stream ends
 * with a SHA-256 of its contents; a restore that reads other bytes fails instead of training on them.
 *
 * <p>By default the barrier only copies the tensors on their device ({@link TrainerState#freeze});
 * the copy is hashed and written by Flink's asynchronous checkpoint thread while training goes on,
 * so a checkpoint never waits for the trainer's bytes to reach storage. With the asynchronous
 * snapshot off the stream is written in the synchronous phase (no second copy in memory).
 *
 * <p>With {@link Publication#ON_CHECKPOINT} it is also the committer: versions the function staged
 * are announced when the checkpoint holding them completes, and emitted then.
 *
 * <p>The trainer runs at parallelism 1, so the state has one partition.
 */
public final class TrainOperator extends ProcessOperator<PreferenceBatch, PolicyUpdate> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(TrainOperator.class);

    private transient volatile long lastCopyMs = -1;
    private transient volatile long lastWriteMs = -1;
    private transient volatile long lastBytes = -1;

    public TrainOperator(TrainFunction function) {
        super(function);
        function.hostedByTrainOperator();
    }

    private TrainFunction train() {
        return (TrainFunction) userFunction;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context); // the function's own operator state (version counter, older formats)
        if (!context.isRestored()) {
            return;
        }
        int partitions = 0;
        for (StatePartitionStreamProvider partition : context.getRawOperatorStateInputs()) {
            if (++partitions > 1) {
                throw new IllegalStateException("the trainer's checkpoint holds more than one trainer state partition; "
                        + "the train step runs at parallelism 1");
            }
            try (InputStream in = new BufferedInputStream(partition.getStream(), 1 << 20)) {
                train().restoreTrainer(in);
            }
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        var group = getMetricGroup();
        group.gauge("trainerSnapshotCopyMs", () -> lastCopyMs);
        group.gauge("trainerSnapshotWriteMs", () -> lastWriteMs);
        group.gauge("trainerSnapshotBytes", () -> lastBytes);
        emit(train().takeCommittedAtOpen());
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        emit(train().commitStaged(checkpointId));
    }

    private void emit(java.util.List<PolicyUpdate> announced) {
        for (PolicyUpdate u : announced) {
            output.collect(new StreamRecord<>(u));
        }
    }

    @Override
    public OperatorSnapshotFutures snapshotState(long checkpointId, long timestamp, CheckpointOptions options,
            CheckpointStreamFactory factory) throws Exception {
        OperatorSnapshotFutures futures = super.snapshotState(checkpointId, timestamp, options, factory);
        if (train().asyncSnapshot()) {
            // The raw-state future Flink made is empty (nothing was written synchronously): run it so it lets go
            // of its registration, then put the trainer's write in its place.
            RunnableFuture<SnapshotResult<OperatorStateHandle>> empty = futures.getOperatorStateRawFuture();
            if (empty != null) {
                empty.run();
            }
            long start = System.nanoTime();
            TrainerState.Frozen frozen = train().freezeTrainer();
            lastCopyMs = (System.nanoTime() - start) / 1_000_000;
            futures.setOperatorStateRawFuture(new TrainerWrite(checkpointId, frozen, factory));
        }
        return futures;
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        if (train().asyncSnapshot()) {
            return; // written by TrainerWrite on the checkpoint thread
        }
        long start = System.nanoTime();
        OperatorStateCheckpointOutputStream out = context.getRawOperatorStateOutput();
        out.startNewPartition();
        // Flink closes the stream and keeps its handle; closing our buffer only flushes (the raw stream's close is a no-op).
        try (OutputStream buffered = new BufferedOutputStream(out, 1 << 20)) {
            train().writeTrainer(buffered);
        }
        lastWriteMs = (System.nanoTime() - start) / 1_000_000;
    }

    /**
     * Writes a frozen trainer as the raw operator state of one checkpoint, on whichever thread runs
     * it (Flink's asynchronous checkpoint thread). The same layout as the synchronous path: one
     * partition, read back by {@link #initializeState}. Cancelling it closes the stream, which
     * discards what was written; a handle produced after a cancellation is discarded too; the
     * copy is freed exactly once, whether the write ran or not.
     */
    private final class TrainerWrite extends FutureTask<SnapshotResult<OperatorStateHandle>> {
        private final long checkpointId;
        private final TrainerState.Frozen frozen;
        private final CheckpointStreamFactory factory;
        /** Whoever claims it (the write, or a cancellation before the write) frees the copy. */
        private final AtomicBoolean claimed = new AtomicBoolean();
        private volatile CheckpointStateOutputStream stream;

        TrainerWrite(long checkpointId, TrainerState.Frozen frozen, CheckpointStreamFactory factory) {
            super(() -> null); // run() below does the work
            this.checkpointId = checkpointId;
            this.frozen = frozen;
            this.factory = factory;
        }

        @Override
        public void run() {
            if (isDone() || !claimed.compareAndSet(false, true)) {
                return;
            }
            try {
                set(write());
            } catch (Throwable t) {
                setException(t);
            } finally {
                frozen.close();
            }
        }

        private SnapshotResult<OperatorStateHandle> write() throws IOException {
            long start = System.nanoTime();
            try (CheckpointStateOutputStream out = factory.createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE)) {
                stream = out;
                if (isCancelled()) {
                    throw new IOException("checkpoint " + checkpointId + " was cancelled before the trainer was written");
                }
                long partition = out.getPos();
                try (OutputStream buffered = new BufferedOutputStream(new FilterOutputStream(out) {
                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        out.write(b, off, len);
                    }

                    @Override
                    public void close() throws IOException {
                        flush(); // the checkpoint stream is closed below, for its handle
                    }
                }, 1 << 20)) {
                    frozen.write(buffered);
                }
                StreamStateHandle handle = out.closeAndGetHandle();
                lastBytes = handle.getStateSize();
                lastWriteMs = (System.nanoTime() - start) / 1_000_000;
                LOG.debug("Trainer at step {} written for checkpoint {}: {} bytes in {} ms off the task thread",
                        frozen.step(), checkpointId, handle.getStateSize(), lastWriteMs);
                return SnapshotResult.of(new OperatorStreamStateHandle(Map.of(DefaultOperatorStateBackend.DEFAULT_OPERATOR_STATE_NAME,
                        new OperatorStateHandle.StateMetaInfo(new long[] {partition}, OperatorStateHandle.Mode.SPLIT_DISTRIBUTE)), handle));
            }
        }

        @Override
        protected void set(SnapshotResult<OperatorStateHandle> result) {
            super.set(result);
            if (isCancelled() && result != null) {
                // Cancelled while writing: nobody will take this handle, so its file goes now.
                try {
                    result.discardState();
                } catch (Exception e) {
                    LOG.warn("Could not discard the trainer state of a cancelled checkpoint", e);
                }
            }
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            boolean cancelled = super.cancel(mayInterruptIfRunning);
            CheckpointStateOutputStream out = stream;
            if (out != null) {
                try {
                    out.close(); // a write in progress fails; what it wrote is discarded by the stream
                } catch (IOException e) {
                    LOG.debug("Closing the trainer's checkpoint stream on cancellation failed", e);
                }
            }
            return cancelled;
        }

        @Override
        protected void done() {
            if (isCancelled() && claimed.compareAndSet(false, true)) {
                frozen.close(); // cancelled before the write began: it never will
            }
        }
    }
}
