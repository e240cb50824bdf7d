package io.optune.operators.batch;

import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.PreferenceBatch;
import io.optune.operators.records.PreferencePair;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class BatchOperatorTest {

    private static KeyedOneInputStreamOperatorTestHarness<Integer, PreferencePair, PreferenceBatch> harness() throws Exception {
        return new KeyedOneInputStreamOperatorTestHarness<>(new BatchOperator(3, 1000), p -> BatchOperator.KEY, Types.INT);
    }

    private static PreferencePair pair(int i) {
        return OperatorTestSupport.pair("copy " + (char) ('a' + i) + "=", "a", "b", 0.5);
    }

    /** Wake-ups of the operator's own (its keyed timer service must stay empty: see the class comment). */
    private static int wakeUps(KeyedOneInputStreamOperatorTestHarness<Integer, PreferencePair, PreferenceBatch> h) {
        return h.getProcessingTimeService().getNumActiveTimers();
    }

    @Test
    void emitsFullBatchesBySize() throws Exception {
        try (var h = harness()) {
            h.open();
            h.setProcessingTime(0);
            for (int i = 0; i < 7; i++) {
                h.processElement(new StreamRecord<>(pair(i)));
            }
            List<PreferenceBatch> out = h.extractOutputValues();
            assertThat(out).hasSize(2);
            assertThat(out).allSatisfy(b -> assertThat(b.pairs()).hasSize(3));
            assertThat(out.get(1).pairs()[0].prompt()).isEqualTo("copy d=");
        }
    }

    @Test
    void flushesAPartialBatchAtItsDeadlineWithoutKeyedTimers() throws Exception {
        try (var h = harness()) {
            h.open();
            h.setProcessingTime(0);
            h.processElement(new StreamRecord<>(pair(0)));
            h.setProcessingTime(500);
            h.processElement(new StreamRecord<>(pair(1)));
            assertThat(wakeUps(h)).isEqualTo(1);
            assertThat(h.numProcessingTimeTimers()).isZero();
            h.setProcessingTime(999);
            assertThat(h.extractOutputValues()).isEmpty();
            h.setProcessingTime(1000); // the oldest pair has waited max-delay
            assertThat(h.extractOutputValues()).hasSize(1);
            assertThat(h.extractOutputValues().get(0).pairs()).hasSize(2);
            assertThat(h.extractOutputValues().get(0).closedAt()).isEqualTo(1000);
            assertThat(wakeUps(h)).isZero();
        }
    }

    @Test
    void aSizeTriggeredBatchCancelsItsWakeUp() throws Exception {
        try (var h = harness()) {
            h.open();
            h.setProcessingTime(0);
            for (int i = 0; i < 3; i++) {
                h.processElement(new StreamRecord<>(pair(i)));
            }
            assertThat(wakeUps(h)).isZero();
            h.setProcessingTime(5000);
            assertThat(h.extractOutputValues()).hasSize(1);
        }
    }

    @Test
    void aStaleWakeUpDoesNotCloseTheNextBatchEarly() throws Exception {
        try (var h = harness()) {
            h.open();
            h.setProcessingTime(0);
            for (int i = 0; i < 3; i++) { // closed by size; its wake-up for 1000 cancelled
                h.processElement(new StreamRecord<>(pair(i)));
            }
            h.setProcessingTime(600);
            h.processElement(new StreamRecord<>(pair(3))); // deadline 1600
            // The cancelled wake-up's mail may already be queued when the cancel comes: it still runs.
            ((BatchOperator) h.getOperator()).onProcessingTime(1000);
            assertThat(h.extractOutputValues()).hasSize(1);
            h.setProcessingTime(1600);
            assertThat(h.extractOutputValues()).hasSize(2);
            assertThat(h.extractOutputValues().get(1).pairs()).extracting(PreferencePair::prompt).containsExactly("copy d=");
        }
    }

    @Test
    void bufferAndDeadlineSurviveARestore() throws Exception {
        OperatorSubtaskState snapshot;
        try (var h = harness()) {
            h.open();
            h.setProcessingTime(0);
            h.processElement(new StreamRecord<>(pair(0)));
            h.processElement(new StreamRecord<>(pair(1)));
            snapshot = h.snapshot(1L, 1L);
        }
        try (var h = harness()) {
            h.initializeState(snapshot);
            h.setProcessingTime(200);
            h.open();
            assertThat(wakeUps(h)).isEqualTo(1);
            h.setProcessingTime(999);
            assertThat(h.extractOutputValues()).isEmpty();
            h.setProcessingTime(1000); // the restored deadline, not 1000 ms after the restore
            List<PreferenceBatch> out = h.extractOutputValues();
            assertThat(out).hasSize(1);
            assertThat(out.get(0).pairs()).extracting(PreferencePair::prompt).containsExactly("copy a=", "copy b=");
            // The restored count: one more pair starts a new batch, two more close it by size.
            h.processElement(new StreamRecord<>(pair(2)));
            h.processElement(new StreamRecord<>(pair(3)));
            h.processElement(new StreamRecord<>(pair(4)));
            assertThat(h.extractOutputValues()).hasSize(2);
        }
    }

    @Test
    void theLastPartialBatchIsEmittedWhenTheInputEnds() throws Exception {
        var h = harness();
        h.open();
        h.setProcessingTime(0);
        for (int i = 0; i < 5; i++) {
            h.processElement(new StreamRecord<>(pair(i)));
        }
        assertThat(h.extractOutputValues()).hasSize(1);
        h.close(); // finishes the operator, as the end of input does
        List<PreferenceBatch> out = h.extractOutputValues();
        assertThat(out).hasSize(2);
        assertThat(out.get(1).pairs()).extracting(PreferencePair::prompt).containsExactly("copy d=", "copy e=");
    }

    @Test
    void anEmptyRestoreSchedulesNothing() throws Exception {
        OperatorSubtaskState snapshot;
        try (var h = harness()) {
            h.open();
            h.setProcessingTime(0);
            for (int i = 0; i < 3; i++) {
                h.processElement(new StreamRecord<>(pair(i)));
            }
            snapshot = h.snapshot(1L, 1L);
        }
        try (var h = harness()) {
            h.initializeState(snapshot);
            h.open();
            assertThat(wakeUps(h)).isZero();
        }
    }
}
