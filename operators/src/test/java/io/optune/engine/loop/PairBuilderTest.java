package io.optune.engine.loop;

import io.optune.engine.train.PairWeighting;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class PairBuilderTest {
    private static final int[] PROMPT = {1, 2, 3};
    private final PairBuilder builder = new PairBuilder(0.05, PairWeighting.EXP, 2.0);

    /** A response whose ids are its characters (any ids would do). */
    static Response r(String text) {
        return new Response(text.chars().toArray(), text);
    }

    private static PairBuilder.Scored s(String text, double reward) {
        return new PairBuilder.Scored(r(text), reward);
    }

    @Test
    void picksBestAndWorstOfTheNewResponses() {
        PairBuilder.Outcome o = builder.merge(null, PROMPT, List.of(s("a", 0.5), s("b", 0.9), s("c", 0.1)), 3);
        assertThat(o.memory()).usingRecursiveComparison().isEqualTo(new ResponseMemory(PROMPT, r("b"), 0.9, r("c"), 0.1, 0.9, 3));
        assertThat(o.pair()).hasValueSatisfying(p -> {
            assertThat(p.chosen()).isEqualTo(r("b"));
            assertThat(p.rejected()).isEqualTo(r("c"));
            assertThat(p.weight()).isEqualTo(Math.exp(2.0 * 0.8));
        });
    }

    @Test
    void keepsABetterStoredChosenButAlwaysTakesTheNewRejected() {
        ResponseMemory stored = new ResponseMemory(PROMPT, r("best"), 1.0, r("old-bad"), 0.0, 1.0, 1);
        PairBuilder.Outcome o = builder.merge(stored, PROMPT, List.of(s("x", 0.6), s("y", 0.4)), 2);
        assertThat(o.memory()).usingRecursiveComparison().isEqualTo(new ResponseMemory(PROMPT, r("best"), 1.0, r("y"), 0.4, 0.6, 2));
    }

    @Test
    void aStoredChosenOfOtherPromptIdsIsNotPairedWithTheNewOnes() {
        // The prompt now renders to other ids (e.g. a new chat template): the old chosen response
        // answered another token sequence, so the memory starts over from the new responses.
        ResponseMemory stored = new ResponseMemory(new int[] {9, 9}, r("best"), 1.0, r("old-bad"), 0.0, 1.0, 1);
        PairBuilder.Outcome o = builder.merge(stored, PROMPT, List.of(s("x", 0.6), s("y", 0.4)), 2);
        assertThat(o.memory()).usingRecursiveComparison().isEqualTo(new ResponseMemory(PROMPT, r("x"), 0.6, r("y"), 0.4, 0.6, 2));
    }

    @Test
    void dropsPairsUnderTheMinimumGapAndPairsOfIdenticalIds() {
        PairBuilder.Outcome o = builder.merge(null, PROMPT, List.of(s("a", 0.5), s("b", 0.52)), 1);
        assertThat(o.pair()).isEmpty();
        assertThat(o.memory().chosen()).isEqualTo(r("b"));
        PairBuilder.Outcome same = builder.merge(null, PROMPT, List.of(s("a", 0.5), s("a", 0.5)), 1);
        assertThat(same.pair()).isEmpty();
        // Same ids, different rewards cannot happen with a deterministic reward, but must not train on nothing.
        PairBuilder.Outcome sameIds = builder.merge(null, PROMPT, List.of(s("a", 0.9), s("a", 0.1)), 1);
        assertThat(sameIds.pair()).isEmpty();
    }
}
