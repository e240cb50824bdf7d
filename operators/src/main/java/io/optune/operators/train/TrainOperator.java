package io.optune.operators.train;

import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferenceBatch;
import org.apache.flink.runtime.state.OperatorStateCheckpointOutputStream;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StatePartitionStreamProvider;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.ProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * Hosts {@link TrainFunction} and checkpoints its trainer (policy, reference, AdamW moments, step)
 * as a stream of raw operator state: the tensors go one by one from the engine to a file on the
 * checkpoint storage, never through one Java array, so the state has no 2 GB ceiling and costs no
 * heap copy. Flink owns those files like any other state: they belong to the checkpoint (or
 * savepoint) that wrote them and are deleted when it is subsumed, never before. The stream ends
 * with a SHA-256 of its contents; a restore that reads other bytes fails instead of training on them.
 *
 * <p>With {@link Publication#ON_CHECKPOINT} it is also the committer: versions the function staged
 * are announced when the checkpoint holding them completes, and emitted then.
 *
 * <p>The trainer runs at parallelism 1, so the state has one partition.
 */
public final class TrainOperator extends ProcessOperator<PreferenceBatch, PolicyUpdate> {
    private static final long serialVersionUID = 1L;

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
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        OperatorStateCheckpointOutputStream out = context.getRawOperatorStateOutput();
        out.startNewPartition();
        // Flink closes the stream and keeps its handle; closing our buffer only flushes (the raw stream's close is a no-op).
        try (OutputStream buffered = new BufferedOutputStream(out, 1 << 20)) {
            train().writeTrainer(buffered);
        }
    }
}
