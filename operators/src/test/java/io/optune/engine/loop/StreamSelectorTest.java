package io.optune.engine.loop;

import io.optune.engine.Rng;
import io.optune.engine.loop.StreamSelector.Decision;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class StreamSelectorTest {

    @Test
    void eachPromptCountsOnceInTheRankingWithItsLatestScore() {
        StreamSelector s = new StreamSelector(SelectionStrategy.OPTUNE, 0.5, StreamSelector.Limits.none(), 100);
        for (int i = 0; i < 10; i++) {
            s.scoreUpdated("p" + i, i / 10.0);
        }
        for (int k = 0; k < 50; k++) {
            s.scoreUpdated("p0", 0.0); // a hot prompt updated often is still one prompt
        }
        assertThat(s.rankedPrompts()).isEqualTo(10);
        assertThat(s.rank(0.45)).isCloseTo(0.5, within(1e-9));
        s.scoreUpdated("p0", 0.95); // replaced, not appended
        assertThat(s.rankedPrompts()).isEqualTo(10);
        assertThat(s.rank(0.95)).isCloseTo(0.95, within(1e-9)); // 9 below, itself half
    }

    @Test
    void tiesAtTheTopRankHighAndTheLeastRecentlySeenPromptIsDropped() {
        StreamSelector s = new StreamSelector(SelectionStrategy.OPTUNE, 0.5, StreamSelector.Limits.none(), 10);
        for (int i = 0; i < 6; i++) {
            s.scoreUpdated("solved" + i, 1.0);
        }
        for (int i = 0; i < 4; i++) {
            s.scoreUpdated("open" + i, 0.2 + i * 0.1);
        }
        assertThat(s.rank(1.0)).isCloseTo(0.7, within(1e-9));
        s.scoreUpdated("late", 0.0); // capacity 10: solved0 goes
        assertThat(s.rankedPrompts()).isEqualTo(10);
        assertThat(s.rank(1.0)).isCloseTo(0.75, within(1e-9));
    }

    @Test
    void theShareStaysWithinTheDeficitBoundEvenWhenTheRankingIsOneSided() {
        // Every known prompt has the same low score, so rank alone would regenerate all of them.
        StreamSelector s = new StreamSelector(SelectionStrategy.OPTUNE, 0.25, StreamSelector.Limits.none(), 100);
        s.scoreUpdated("a", 0.0);
        Rng rng = new Rng(3);
        int regenerated = 0;
        for (int i = 1; i <= 5000; i++) {
            regenerated += s.decide("a", 0.0, false, 0, 0, rng).regenerates() ? 1 : 0;
            assertThat(Math.abs(0.25 * i - regenerated)).isLessThanOrEqualTo(StreamSelector.DEFICIT_BOUND + 1);
        }
        assertThat(s.realisedRho()).isCloseTo(0.25, within(0.02));
    }

    @Test
    void newInFlightCappedAndAllDecisions() {
        Rng rng = new Rng(1);
        StreamSelector s = new StreamSelector(SelectionStrategy.OPTUNE, 0.0, new StreamSelector.Limits(2, 3), 100);
        assertThat(s.decide("n", Double.NaN, false, 0, 0, rng)).isEqualTo(Decision.NEW);
        assertThat(s.decide("n", Double.NaN, true, 0, 0, rng)).isEqualTo(Decision.IN_FLIGHT);
        assertThat(s.decide("k", 0.5, false, 1, 3, rng)).isEqualTo(Decision.REUSE);
        assertThat(s.decide("k", 0.5, false, 2, 0, rng)).isEqualTo(Decision.REGENERATE_REUSE_CAP);
        assertThat(s.decide("k", 0.5, false, 0, 4, rng)).isEqualTo(Decision.REGENERATE_STALE);
        StreamSelector all = new StreamSelector(SelectionStrategy.ALL, 0.1, new StreamSelector.Limits(2, 3), 100);
        assertThat(all.decide("k", 1.0, true, 0, 0, rng)).isEqualTo(Decision.REGENERATE);
        assertThat(all.rho()).isEqualTo(1.0);
    }

    @Test
    void aSnapshotRestoresTheControllerAndOnlyTheOwnedPrompts() {
        StreamSelector s = new StreamSelector(SelectionStrategy.RANDOM, 0.5, StreamSelector.Limits.none(), 100);
        Rng rng = new Rng(5);
        for (int i = 0; i < 300; i++) {
            s.scoreUpdated("p" + (i % 20), i % 7);
            s.decide("p" + (i % 20), i % 7, false, 0, 0, rng);
        }
        byte[] snap = s.snapshot();
        StreamSelector same = new StreamSelector(SelectionStrategy.RANDOM, 0.5, StreamSelector.Limits.none(), 100);
        same.restore(snap, true, id -> true);
        assertThat(same.realisedRho()).isEqualTo(s.realisedRho());
        assertThat(same.deficit()).isEqualTo(s.deficit());
        assertThat(same.threshold()).isEqualTo(s.threshold());
        assertThat(same.rankedPrompts()).isEqualTo(20);
        StreamSelector other = new StreamSelector(SelectionStrategy.RANDOM, 0.5, StreamSelector.Limits.none(), 100);
        other.restore(snap, false, id -> id.endsWith("1"));
        assertThat(other.rankedPrompts()).isEqualTo(2); // p1, p11
        assertThat(other.realisedRho()).isNaN();
    }
}
