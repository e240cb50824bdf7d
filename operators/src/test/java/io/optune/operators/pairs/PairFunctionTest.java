package io.optune.operators.pairs;

import io.optune.engine.train.PairWeighting;
import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.MemoryUpdate;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.records.ScoredGeneration;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class PairFunctionTest {
    @Test
    void pairsWithTheCarriedMemoryAndFeedsTheNewMemoryBack() throws Exception {
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new PairFunction(0.05, PairWeighting.EXP, 2.0))) {
            GenerationRequest req = new GenerationRequest(OperatorTestSupport.prompt("rev abc="),
                    OperatorTestSupport.stored("rev abc=", "cba", 1.0, "old", 0.0, 1.0, 2), 0L);
            h.processElement(new ScoredGeneration(OperatorTestSupport.generation(req, 5, "cb", "abc"),
                    new double[] {2.0 / 3, 1.0 / 3}), 0L);
            PreferencePair p = h.extractOutputValues().get(0);
            assertThat(p.chosen()).isEqualTo(OperatorTestSupport.response("cba"));
            assertThat(p.rejected()).isEqualTo(OperatorTestSupport.response("abc"));
            assertThat(p.promptIds()).isEqualTo(OperatorTestSupport.promptIds("rev abc="));
            assertThat(p.fresh()).isTrue();
            assertThat(p.policyVersion()).isEqualTo(5);
            assertThat(p.weight()).isEqualTo(Math.exp(2.0 * (1.0 - 1.0 / 3)));
            MemoryUpdate u = h.getSideOutput(PairFunction.MEMORY_UPDATES).poll().getValue();
            assertThat(u.promptId()).isEqualTo(req.prompt().id());
            assertThat(u.memory()).usingRecursiveComparison()
                    .isEqualTo(OperatorTestSupport.stored("rev abc=", "cba", 1.0, "abc", 1.0 / 3, 2.0 / 3, 5));
        }
    }

    @Test
    void aGapUnderTheMinimumUpdatesMemoryButMakesNoPair() throws Exception {
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new PairFunction(0.05, PairWeighting.NONE, 0))) {
            h.processElement(new ScoredGeneration(OperatorTestSupport.generation(OperatorTestSupport.request("copy ab="), 1, "ab", "ab"),
                    new double[] {1.0, 1.0}), 0L);
            assertThat(h.extractOutputValues()).isEmpty();
            assertThat(h.getSideOutput(PairFunction.MEMORY_UPDATES)).hasSize(1);
            // The arrival still ends in the ledger, with the reason it gave no training signal.
            PromptOutcome o = h.getSideOutput(PromptOutcome.LEDGER).poll().getValue();
            assertThat(o.outcome()).isEqualTo(PromptOutcome.Outcome.SKIPPED);
            assertThat(o.requestId()).isEqualTo("req-copy ab=");
            assertThat(o.reason()).isEqualTo("gap-below-minimum");
        }
    }
}
