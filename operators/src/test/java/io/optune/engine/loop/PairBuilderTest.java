package io.optune.engine.loop;

import io.optune.engine.train.PairWeighting;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class PairBuilderTest {
    private final PairBuilder builder = new PairBuilder(0.05, PairWeighting.EXP, 2.0);

    @Test
    void picksBestAndWorstOfTheNewResponses() {
        PairBuilder.Outcome o = builder.merge(null, List.of(
                new PairBuilder.Scored("a", 0.5), new PairBuilder.Scored("b", 0.9), new PairBuilder.Scored("c", 0.1)), 3);
        assertThat(o.memory()).isEqualTo(new ResponseMemory("b", 0.9, "c", 0.1, 0.9, 3));
        assertThat(o.pair()).hasValueSatisfying(p -> {
            assertThat(p.chosen()).isEqualTo("b");
            assertThat(p.rejected()).isEqualTo("c");
            assertThat(p.weight()).isEqualTo(Math.exp(2.0 * 0.8));
        });
    }

    @Test
    void keepsABetterStoredChosenButAlwaysTakesTheNewRejected() {
        ResponseMemory stored = new ResponseMemory("best", 1.0, "old-bad", 0.0, 1.0, 1);
        PairBuilder.Outcome o = builder.merge(stored, List.of(new PairBuilder.Scored("x", 0.6), new PairBuilder.Scored("y", 0.4)), 2);
        assertThat(o.memory()).isEqualTo(new ResponseMemory("best", 1.0, "y", 0.4, 0.6, 2));
    }

    @Test
    void dropsPairsUnderTheMinimumGap() {
        PairBuilder.Outcome o = builder.merge(null, List.of(new PairBuilder.Scored("a", 0.5), new PairBuilder.Scored("b", 0.52)), 1);
        assertThat(o.pair()).isEmpty();
        assertThat(o.memory().chosen()).isEqualTo("b");
        PairBuilder.Outcome same = builder.merge(null, List.of(new PairBuilder.Scored("a", 0.5), new PairBuilder.Scored("a", 0.5)), 1);
        assertThat(same.pair()).isEmpty();
    }
}
