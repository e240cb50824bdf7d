package io.optune.operators.evaluate;

import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.InMemoryWeightLog;
import io.optune.operators.weights.VersionWriter;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class EvaluateOperatorTest {
    /** Held while the first version is being read, so the test controls what arrives during an evaluation. */
    static volatile CountDownLatch gate = new CountDownLatch(0);
    static volatile CountDownLatch reading = new CountDownLatch(0);

    /** A weight log whose reads of version 1 wait at the gate. */
    static final class GatedLog implements WeightLog {
        private final InMemoryWeightLog log;

        GatedLog(InMemoryWeightLog log) {
            this.log = log;
        }

        @Override
        public PolicyUpdate stage(PolicyUpdate update, VersionWriter files) throws IOException {
            return log.stage(update, files);
        }

        @Override
        public PolicyUpdate commit(PolicyUpdate staged) throws IOException {
            return log.commit(staged);
        }

        @Override
        public InputStream open(String location, String name) throws IOException {
            if (location.equals(log.versions().get(1).location())) {
                reading.countDown();
                try {
                    gate.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
            return log.open(location, name);
        }

        @Override
        public List<PolicyUpdate> versions() throws IOException {
            return log.versions();
        }
    }

    private static OneInputStreamOperatorTestHarness<PolicyUpdate, PolicyUpdate> harness(HeldOutEvaluation e) throws Exception {
        return new OneInputStreamOperatorTestHarness<>(new EvaluateOperator(e));
    }

    /** Advances processing time until {@code n} results came out (the evaluation thread works in real time). */
    private static List<PolicyUpdate> awaitOutputs(OneInputStreamOperatorTestHarness<PolicyUpdate, PolicyUpdate> h, int n)
            throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        long t = h.getProcessingTime();
        while (h.extractOutputValues().size() < n && System.nanoTime() < deadline) {
            Thread.sleep(20);
            h.setProcessingTime(t += EvaluateOperator.DRAIN_INTERVAL_MS);
        }
        return h.extractOutputValues();
    }

    @Test
    void evaluatesPublishedVersionsOffTheTaskThreadWithTheSameResultAsDirectly() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        PolicyUpdate v1 = OperatorTestSupport.publish(log, 1, 4);
        HeldOutEvaluation evaluation = new HeldOutEvaluation(log, 24, 7, 4, 24, 8);
        try (var h = harness(evaluation)) {
            h.open();
            h.processElement(new StreamRecord<>(v1));
            // Nothing comes out on the task thread: the result is handed over by a timer.
            assertThat(h.extractOutputValues()).isEmpty();
            List<PolicyUpdate> out = awaitOutputs(h, 1);
            assertThat(out).hasSize(1);
            assertThat(out.get(0).version()).isEqualTo(1);
            assertThat(out.get(0).heldOutReward()).isBetween(0.0, 1.0).isEqualTo(evaluation.evaluate(v1));
            // It holds no state: a checkpoint of it is empty (no keyed timers either, which churned RocksDB files).
            h.processElement(new StreamRecord<>(OperatorTestSupport.publish(log, 2, 5))); // a drain timer is pending
            var snapshot = h.snapshot(1L, 1L);
            assertThat(snapshot.getManagedKeyedState()).isEmpty();
            assertThat(snapshot.getRawKeyedState()).isEmpty();
            assertThat(snapshot.getManagedOperatorState()).isEmpty();
        }
    }

    @Test
    void versionsArrivingDuringAnEvaluationAreSkippedForTheNewest() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        List<PolicyUpdate> v = new java.util.ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            v.add(OperatorTestSupport.publish(log, i, 10 + i));
        }
        gate = new CountDownLatch(1);
        reading = new CountDownLatch(1);
        try (var h = harness(new HeldOutEvaluation(new GatedLog(log), 16, 7, 4, 24, 8))) {
            h.open();
            h.processElement(new StreamRecord<>(v.get(0)));
            assertThat(reading.await(30, TimeUnit.SECONDS)).as("version 1 is being evaluated").isTrue();
            // Versions 2..4 arrive while version 1 is evaluated: the task thread does not wait, 2 and 3 are skipped.
            for (int i = 1; i < 4; i++) {
                h.processElement(new StreamRecord<>(v.get(i)));
            }
            gate.countDown();
            List<PolicyUpdate> out = awaitOutputs(h, 2);
            assertThat(out).extracting(PolicyUpdate::version).containsExactly(1L, 4L);
        } finally {
            gate.countDown();
        }
    }
}
