package io.optune.operators.select;

import io.optune.engine.loop.SelectionStrategy;
import io.optune.engine.train.PairWeighting;
import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.MemoryUpdate;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.StoredPair;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class SelectFunctionTest {

    private static KeyedTwoInputStreamOperatorTestHarness<String, Prompt, MemoryUpdate, GenerationRequest> harness(
            SelectionStrategy strategy, double rho, Duration ttl) throws Exception {
        SelectFunction fn = new SelectFunction(SelectConfig.builder(strategy, rho).rankedPrompts(10).ttl(ttl).build());
        return new KeyedTwoInputStreamOperatorTestHarness<>(new KeyedCoProcessOperator<>(fn), Prompt::id, MemoryUpdate::promptId, Types.STRING);
    }

    private static MemoryUpdate memory(Prompt p, double latestReward) {
        return new MemoryUpdate(p.id(), new StoredPair("good", 1.0, "bad", 0.0, latestReward, 1));
    }

    /** Ten known prompts with chosen rewards 0.0 .. 0.9, each seen once so the (size 10) window holds all ten. */
    private static List<Prompt> seedTenPrompts(KeyedTwoInputStreamOperatorTestHarness<String, Prompt, MemoryUpdate, GenerationRequest> h)
            throws Exception {
        List<Prompt> prompts = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) {
            Prompt p = OperatorTestSupport.prompt("copy " + (char) ('a' + i) + "=");
            prompts.add(p);
            h.processElement1(new StreamRecord<>(p)); // new: generated
            h.processElement2(new StreamRecord<>(memory(p, i / 10.0)));
        }
        for (int i = 0; i < 10; i++) {
            h.processElement1(new StreamRecord<>(prompts.get(i))); // fills the window with the ten scores
            h.processElement2(new StreamRecord<>(memory(prompts.get(i), i / 10.0))); // any regeneration came back
        }
        return prompts;
    }

    @Test
    void newPromptsGenerateAndOptuneRegeneratesOnlyTheLowestRho() throws Exception {
        try (var h = harness(SelectionStrategy.OPTUNE, 0.3, Duration.ZERO)) {
            h.open();
            List<Prompt> prompts = seedTenPrompts(h);
            h.getOutput().clear();
            h.getSideOutput(SelectFunction.REUSED_PAIRS).clear();
            for (Prompt p : prompts) {
                h.processElement1(new StreamRecord<>(p));
            }
            List<GenerationRequest> regenerated = h.extractOutputValues();
            assertThat(regenerated).extracting(r -> r.memory().latestReward()).containsExactly(0.0, 0.1, 0.2);
            assertThat(regenerated.get(0).memory().chosen()).isEqualTo("good");
            List<PreferencePair> reused = h.getSideOutput(SelectFunction.REUSED_PAIRS).stream().map(StreamRecord::getValue).toList();
            assertThat(reused).hasSize(7);
            assertThat(reused).allSatisfy(p -> {
                assertThat(p.fresh()).isFalse();
                assertThat(p.chosen()).isEqualTo("good");
                assertThat(p.rejected()).isEqualTo("bad");
            });
        }
    }

    @Test
    void aPromptArrivingWhileItsRegenerationIsInFlightReusesItsStoredPair() throws Exception {
        try (var h = harness(SelectionStrategy.OPTUNE, 0.3, Duration.ZERO)) {
            h.open();
            List<Prompt> prompts = seedTenPrompts(h);
            Prompt lowest = prompts.get(0);
            h.getOutput().clear();
            h.setProcessingTime(1_000);
            h.processElement1(new StreamRecord<>(lowest));
            assertThat(h.extractOutputValues()).hasSize(1); // lowest score: regenerated
            h.processElement1(new StreamRecord<>(lowest)); // again before its memory came back
            assertThat(h.extractOutputValues()).hasSize(1);
            assertThat(h.getSideOutput(SelectFunction.REUSED_PAIRS).stream().map(StreamRecord::getValue)
                    .filter(p -> p.promptId().equals(lowest.id()))).isNotEmpty();
            h.processElement2(new StreamRecord<>(memory(lowest, 0.0))); // the regeneration returned, still low
            h.processElement1(new StreamRecord<>(lowest));
            assertThat(h.extractOutputValues()).hasSize(2);
            h.setProcessingTime(1_000 + Duration.ofSeconds(31).toMillis()); // its update never came: regenerate again
            h.processElement1(new StreamRecord<>(lowest));
            assertThat(h.extractOutputValues()).hasSize(3);
        }
    }

    @Test
    void allStrategyRegeneratesEverything() throws Exception {
        try (var h = harness(SelectionStrategy.ALL, 1.0, Duration.ZERO)) {
            h.open();
            seedTenPrompts(h);
            assertThat(h.extractOutputValues()).hasSize(20);
            assertThat(h.getSideOutput(SelectFunction.REUSED_PAIRS)).isNull();
        }
    }

    @Test
    void aLowerScoringUpdateKeepsTheBestChosen() throws Exception {
        try (var h = harness(SelectionStrategy.ALL, 1.0, Duration.ZERO)) {
            h.open();
            Prompt p = OperatorTestSupport.prompt("rev ab=");
            h.processElement2(new StreamRecord<>(new MemoryUpdate(p.id(), new StoredPair("ba", 1.0, "x", 0.0, 1.0, 1))));
            h.processElement2(new StreamRecord<>(new MemoryUpdate(p.id(), new StoredPair("b", 0.5, "y", 0.1, 0.5, 2))));
            h.processElement1(new StreamRecord<>(p));
            StoredPair m = h.extractOutputValues().get(0).memory();
            assertThat(m).isEqualTo(new StoredPair("ba", 1.0, "y", 0.1, 0.5, 2));
        }
    }

    @Test
    void memoryExpiresAfterItsTtl() throws Exception {
        try (var h = harness(SelectionStrategy.OPTUNE, 0.0, Duration.ofMinutes(10))) {
            h.open();
            Prompt p = OperatorTestSupport.prompt("sort ba=");
            h.setStateTtlProcessingTime(0);
            h.processElement2(new StreamRecord<>(memory(p, 0.9)));
            h.setStateTtlProcessingTime(Duration.ofMinutes(5).toMillis());
            h.processElement1(new StreamRecord<>(p));
            assertThat(h.extractOutputValues()).isEmpty(); // known, rho 0: reused
            h.setStateTtlProcessingTime(Duration.ofMinutes(30).toMillis());
            h.processElement1(new StreamRecord<>(p));
            assertThat(h.extractOutputValues()).hasSize(1); // expired: treated as new
            assertThat(h.extractOutputValues().get(0).memory()).isNull();
        }
    }

    @Test
    void snapshotAndRestoreKeepMemoryAndTheRewardWindow() throws Exception {
        OperatorSubtaskState snapshot;
        List<Prompt> prompts;
        try (var h = harness(SelectionStrategy.OPTUNE, 0.3, Duration.ZERO)) {
            h.open();
            prompts = seedTenPrompts(h);
            snapshot = h.snapshot(1L, 1L);
        }
        try (var h = harness(SelectionStrategy.OPTUNE, 0.3, Duration.ZERO)) {
            h.initializeState(snapshot);
            h.open();
            for (Prompt p : prompts) {
                h.processElement1(new StreamRecord<>(p));
            }
            // Same decisions as without the restart: the three lowest are regenerated, with their memory.
            assertThat(h.extractOutputValues()).extracting(r -> r.memory().latestReward()).containsExactly(0.0, 0.1, 0.2);
        }
    }
}
