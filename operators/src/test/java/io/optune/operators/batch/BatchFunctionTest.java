package io.optune.operators.batch;

import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.PreferenceBatch;
import io.optune.operators.records.PreferencePair;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class BatchFunctionTest {

    private static KeyedOneInputStreamOperatorTestHarness<Integer, PreferencePair, PreferenceBatch> harness() throws Exception {
        return new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new BatchFunction(3, 1000)), p -> 0, Types.INT);
    }

    private static PreferencePair pair(int i) {
        return OperatorTestSupport.pair("copy " + (char) ('a' + i) + "=", "a", "b", 0.5);
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
    void flushesAPartialBatchWhenItsTimerFires() throws Exception {
        try (var h = harness()) {
            h.open();
            h.setProcessingTime(0);
            h.processElement(new StreamRecord<>(pair(0)));
            h.setProcessingTime(500);
            h.processElement(new StreamRecord<>(pair(1)));
            h.setProcessingTime(999);
            assertThat(h.extractOutputValues()).isEmpty();
            h.setProcessingTime(1000); // the oldest pair has waited max-delay
            assertThat(h.extractOutputValues()).hasSize(1);
            assertThat(h.extractOutputValues().get(0).pairs()).hasSize(2);
            assertThat(h.numProcessingTimeTimers()).isZero();
        }
    }

    @Test
    void aSizeTriggeredBatchCancelsItsTimer() throws Exception {
        try (var h = harness()) {
            h.open();
            h.setProcessingTime(0);
            for (int i = 0; i < 3; i++) {
                h.processElement(new StreamRecord<>(pair(i)));
            }
            assertThat(h.numProcessingTimeTimers()).isZero();
            h.setProcessingTime(5000);
            assertThat(h.extractOutputValues()).hasSize(1);
        }
    }

    @Test
    void bufferAndTimerSurviveARestore() throws Exception {
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
            h.open();
            h.setProcessingTime(1000); // the restored timer fires
            List<PreferenceBatch> out = h.extractOutputValues();
            assertThat(out).hasSize(1);
            assertThat(out.get(0).pairs()).extracting(PreferencePair::prompt).containsExactly("copy a=", "copy b=");
        }
    }
}
