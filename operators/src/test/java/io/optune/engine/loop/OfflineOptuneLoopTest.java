package io.optune.engine.loop;

import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.reward.GoldRewardModel;
import io.optune.engine.reward.RewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.engine.task.BuiltinTask;
import io.optune.engine.task.Evaluator;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.optune.engine.EngineTestSupport.ENCODER;
import static org.assertj.core.api.Assertions.assertThat;

class OfflineOptuneLoopTest {

    /** Gold reward, but NaN for every third response: a misbehaving reward model. */
    private static final class FlakyReward implements RewardModel {
        private final GoldRewardModel gold = new GoldRewardModel();
        int calls;

        @Override
        public double[] score(List<RewardQuery> queries) {
            double[] s = gold.score(queries);
            for (int i = 0; i < s.length; i++) {
                if (calls++ % 3 == 0) {
                    s[i] = Double.NaN;
                }
            }
            return s;
        }

        @Override
        public String name() {
            return "flaky";
        }
    }

    @Test
    void runsRoundsAccountsForEveryPromptAndSurvivesNaNRewards() {
        LoopConfig config = LoopConfig.defaults()
                .with("rounds", "6").with("promptsPerRound", "16").with("poolSize", "20")
                .with("batchSize", "4").with("evalEvery", "3").with("timeBudget", "2m").with("heldOutSize", "16");
        List<String> progress = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            TransformerLM policy = EngineTestSupport.smallModel(manager, 2);
            Evaluator evaluator = new Evaluator(BuiltinTask.heldOut(16, 1), ENCODER, 8);
            FlakyReward reward = new FlakyReward();
            LoopReport report = new OfflineOptuneLoop(config, ENCODER, reward, evaluator, progress::add)
                    .run(policy, manager, 0);
            assertThat(report.rounds()).isEqualTo(6);
            assertThat(report.promptsSeen()).isEqualTo(96);
            assertThat(report.regenerated() + report.reused()).isEqualTo(report.promptsSeen());
            assertThat(report.reused()).isPositive(); // the pool recurs and OPTune skips some known prompts
            assertThat(report.invalid()).isPositive(); // NaN rewards are counted, not trained on
            assertThat(report.steps()).isPositive();
            assertThat(report.curve()).extracting(LoopReport.Point::round).containsExactly(0, 3, 6);
            assertThat(progress).anyMatch(l -> l.startsWith("round 3"));
        }
    }

    @Test
    void allStrategyRegeneratesEveryPrompt() {
        LoopConfig config = LoopConfig.defaults().fullOnlineDpo()
                .with("rounds", "3").with("promptsPerRound", "8").with("poolSize", "8")
                .with("batchSize", "4").with("evalEvery", "3").with("timeBudget", "1m").with("heldOutSize", "8");
        try (NDManager manager = NDManager.newBaseManager()) {
            LoopReport report = new OfflineOptuneLoop(config, ENCODER, new GoldRewardModel(),
                    new Evaluator(BuiltinTask.heldOut(8, 1), ENCODER, 8), null)
                    .run(EngineTestSupport.smallModel(manager, 2), manager, 0);
            assertThat(report.regenerated()).isEqualTo(24);
            assertThat(report.reused()).isZero();
        }
    }

    @Test
    void configOverridesParseAndValidate() {
        LoopConfig c = LoopConfig.defaults().with("strategy", "random").with("timeBudget", "90s").with("rho", "0.25");
        assertThat(c.strategy()).isEqualTo(SelectionStrategy.RANDOM);
        assertThat(c.timeBudget()).isEqualTo(Duration.ofSeconds(90));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.with("rho", "2"))
                .hasMessageContaining("rho");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.with("nope", "1"))
                .hasMessageContaining("unknown loop option 'nope'");
    }
}
