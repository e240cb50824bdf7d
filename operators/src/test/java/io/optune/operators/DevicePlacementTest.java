package io.optune.operators;

import ai.djl.engine.Engine;
import io.optune.engine.generate.SamplingConfig;
import io.optune.operators.generate.GenerateOperator;
import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.InMemoryWeightLog;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.TwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The device options reach the operators: a malformed one fails at once, a missing GPU at open. */
class DevicePlacementTest {
    private static final SamplingConfig SAMPLING = new SamplingConfig(1f, 1f, 6, 2);

    private static GenerateOperator generator(InMemoryWeightLog log) {
        return new GenerateOperator(log, SAMPLING, 24, 1, 100, 1L);
    }

    @Test
    void malformedDevicesAreRefusedWhenTheOperatorIsBuilt() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(1, 1);
        assertThatThrownBy(() -> generator(log).onDevice("tpu:0")).hasMessageContaining("unknown device 'tpu:0'");
    }

    @Test
    void anExplicitCpuGeneratorGenerates() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(1, 1);
        try (var h = new TwoInputStreamOperatorTestHarness<GenerationRequest, PolicyUpdate, Generation>(generator(log).onDevice("CPU"))) {
            h.open();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc=")));
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).singleElement().satisfies(g -> assertThat(g.responses()).hasSize(2));
        }
    }

    @Test
    void aGpuGeneratorOnAnEngineWithoutGpusFailsAtOpenSayingSo() throws Exception {
        Assumptions.assumeTrue(Engine.getInstance().getGpuCount() == 0, "this check is for CPU-only engines");
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(1, 1);
        try (var h = new TwoInputStreamOperatorTestHarness<GenerationRequest, PolicyUpdate, Generation>(generator(log).onDevice("gpu:0"))) {
            assertThatThrownBy(h::open).hasMessageContaining("asks for a GPU, but the PyTorch engine sees none");
        }
    }
}
