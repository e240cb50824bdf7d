package io.optune.operators.select;

import io.optune.operators.OperatorTestSupport;

import io.optune.engine.loop.AutoRho;
import io.optune.engine.loop.SelectionStrategy;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.MemoryUpdate;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.StoredPair;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * rho auto against a simulated generator of fixed capacity: 10 prompts arrive per millisecond and
 * the generator answers 3 regenerations per millisecond, first come first served. The share the
 * generator sustains is 0.3; above it the backlog grows (the trainer would wait on generation),
 * below it generator time is left unused.
 */
class AutoRhoSelectTest {
    static final int ARRIVALS_PER_MS = 10;
    static final int GENERATED_PER_MS = 3;
    static final int POOL = 500;

    static final class Run {
        final SelectConfig config;
        SelectFunction fn;
        KeyedTwoInputStreamOperatorTestHarness<String, Prompt, MemoryUpdate, GenerationRequest> h;
        final ArrayDeque<GenerationRequest> queue = new ArrayDeque<>();
        long ms;
        int arrivals;

        Run(SelectConfig config) throws Exception {
            this.config = config;
            h = harness();
            h.open();
        }

        KeyedTwoInputStreamOperatorTestHarness<String, Prompt, MemoryUpdate, GenerationRequest> harness() throws Exception {
            fn = new SelectFunction(config);
            return new KeyedTwoInputStreamOperatorTestHarness<>(new KeyedCoProcessOperator<>(fn), Prompt::id, MemoryUpdate::promptId, Types.STRING);
        }

        void millisecond() throws Exception {
            ms++;
            h.setProcessingTime(ms);
            for (int i = 0; i < ARRIVALS_PER_MS; i++) {
                String id = "p" + (arrivals++ % POOL);
                h.processElement1(new StreamRecord<>(new Prompt(id, "r" + arrivals, "copy ab=", List.of(), "", ms)));
            }
            queue.addAll(h.extractOutputValues());
            h.getOutput().clear();
            for (int i = 0; i < GENERATED_PER_MS && !queue.isEmpty(); i++) {
                GenerationRequest r = queue.poll();
                double reward = (r.prompt().id().hashCode() & 1023) / 1024.0;
                h.processElement2(new StreamRecord<>(new MemoryUpdate(r.prompt().id(), OperatorTestSupport.stored("rev ab=", "good", 1.0, "bad", 0.0, reward, 1))));
            }
            var side = h.getSideOutput(SelectFunction.REUSED_PAIRS);
            if (side != null) {
                side.clear();
            }
        }

        void restart() throws Exception {
            OperatorSubtaskState snapshot = h.snapshot(1L, ms);
            h.close();
            h = harness();
            h.initializeState(snapshot);
            h.open();
        }
    }

    static SelectConfig auto(double budgetPerSecond) {
        return SelectConfig.builder(SelectionStrategy.OPTUNE, 1.0).rankedPrompts(POOL)
                .autoRho(new AutoRho.Config(0.05, 1.0, 16, budgetPerSecond)).build();
    }

    @Test
    void autoRhoConvergesToTheShareTheGeneratorSustains() throws Exception {
        Run run = new Run(auto(0));
        double min = 1;
        double max = 0;
        for (int t = 0; t < 3000; t++) {
            run.millisecond();
            if (t == 1500) {
                double before = run.fn.selector().rho();
                run.restart();
                assertThat(run.fn.selector().rho()).as("the chosen rho survives a restore").isEqualTo(before);
            }
            if (t >= 2000) {
                min = Math.min(min, run.fn.selector().rho());
                max = Math.max(max, run.fn.selector().rho());
                assertThat(run.queue.size()).as("the generation backlog stays bounded").isLessThan(100);
            }
        }
        System.out.printf("auto rho over the last 1000 ms: %.3f .. %.3f, realised %.3f%n", min, max, run.fn.selector().realisedRho());
        assertThat(min).isGreaterThan(0.24);
        assertThat(max).isLessThan(0.36);
        assertThat(run.fn.selector().realisedRho()).isBetween(0.25, 0.35);
        run.h.close();
    }

    @Test
    void aGenerationBudgetCapsTheChosenRho() throws Exception {
        Run run = new Run(auto(1000)); // 1,000 regenerations/s of 10,000 arrivals/s: rho 0.1
        for (int t = 0; t < 2000; t++) {
            run.millisecond();
        }
        assertThat(run.fn.selector().rho()).isBetween(0.09, 0.11);
        assertThat(run.fn.selector().realisedRho()).isBetween(0.05, 0.15);
        run.h.close();
    }
}
