package io.optune.engine.loop;

import io.optune.engine.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class SelectionRuleTest {
    private static RewardWindow uniformWindow() {
        RewardWindow w = new RewardWindow(100);
        for (int i = 0; i < 100; i++) {
            w.add(i / 100.0);
        }
        return w;
    }

    @Test
    void newPromptsAreAlwaysGenerated() {
        for (SelectionStrategy s : SelectionStrategy.values()) {
            assertThat(new SelectionRule(s, 0.0).regenerate(Double.NaN, uniformWindow(), new Rng(1))).isTrue();
        }
    }

    @Test
    void optuneRegeneratesExactlyTheLowestRhoFraction() {
        SelectionRule rule = new SelectionRule(SelectionStrategy.OPTUNE, 0.3);
        RewardWindow w = uniformWindow();
        int selected = 0;
        for (int i = 0; i < 100; i++) {
            boolean r = rule.regenerate(i / 100.0, w, new Rng(1));
            selected += r ? 1 : 0;
            assertThat(r).as("score %d", i).isEqualTo(i < 30);
        }
        assertThat(selected).isEqualTo(30);
    }

    @Test
    void tiesAtTheTopDoNotAllCountAsLow() {
        RewardWindow w = new RewardWindow(10);
        for (int i = 0; i < 6; i++) {
            w.add(1.0); // solved
        }
        for (int i = 0; i < 4; i++) {
            w.add(0.2 + i * 0.1);
        }
        SelectionRule rule = new SelectionRule(SelectionStrategy.OPTUNE, 0.5);
        assertThat(rule.regenerate(1.0, w, new Rng(1))).isFalse();
        assertThat(rule.regenerate(0.3, w, new Rng(1))).isTrue();
        assertThat(w.rank(1.0)).isCloseTo(0.7, within(1e-9));
    }

    @Test
    void allAndRandomIgnoreTheScore() {
        Rng rng = new Rng(2);
        assertThat(new SelectionRule(SelectionStrategy.ALL, 0.1).regenerate(1.0, uniformWindow(), rng)).isTrue();
        SelectionRule random = new SelectionRule(SelectionStrategy.RANDOM, 0.25);
        int n = 0;
        for (int i = 0; i < 10_000; i++) {
            n += random.regenerate(0.99, uniformWindow(), rng) ? 1 : 0;
        }
        assertThat(n / 10_000.0).isCloseTo(0.25, within(0.02));
    }

    @Test
    void windowKeepsOnlyTheMostRecentScores() {
        RewardWindow w = new RewardWindow(3);
        for (double v : new double[] {0.1, 0.2, 0.3, 0.4}) {
            w.add(v);
        }
        assertThat(w.snapshot()).containsExactly(0.2f, 0.3f, 0.4f);
        assertThat(RewardWindow.restore(3, w.snapshot()).snapshot()).containsExactly(0.2f, 0.3f, 0.4f);
        assertThat(w.rank(0.05)).isEqualTo(0.0);
    }
}
