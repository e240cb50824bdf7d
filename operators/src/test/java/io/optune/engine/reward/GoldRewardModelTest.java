package io.optune.engine.reward;

import io.optune.engine.InvalidInputException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class GoldRewardModelTest {
    @Test
    void scoresBuiltinPromptsWithPartialCredit() {
        double[] s = new GoldRewardModel().score(RewardQuery.texts(List.of("rev abcd=", "rev abcd=", "add 12+9="), List.of("dcba", "dcb", "22")));
        assertThat(s[0]).isEqualTo(1.0);
        assertThat(s[1]).isCloseTo(0.75, within(1e-9));
        assertThat(s[2]).isCloseTo(0.5, within(1e-9));
    }

    @Test
    void refusesPromptsItCannotVerify() {
        assertThatThrownBy(() -> new GoldRewardModel().score(List.of(RewardQuery.text("tell me a joke", "no"))))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("unscorable-prompt"));
    }
}
