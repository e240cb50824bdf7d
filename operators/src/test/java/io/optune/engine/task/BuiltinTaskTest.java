package io.optune.engine.task;

import io.optune.engine.Rng;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class BuiltinTaskTest {
    @Test
    void parsesEveryKind() {
        assertThat(BuiltinTask.parse("copy abc=").answer()).isEqualTo("abc");
        assertThat(BuiltinTask.parse("rev abc=").answer()).isEqualTo("cba");
        assertThat(BuiltinTask.parse("sort cab=").answer()).isEqualTo("abc");
        assertThat(BuiltinTask.parse("add 12+7=").answer()).isEqualTo("19");
        assertThat(BuiltinTask.parse("add 1+x=")).isNull();
        assertThat(BuiltinTask.parse("fly ab=")).isNull();
        assertThat(BuiltinTask.parse("rev =")).isNull();
        assertThat(BuiltinTask.parse("rev abc")).isNull();
    }

    @Test
    void goldRewardIsGraded() {
        assertThat(BuiltinTask.goldReward("cba", "cba")).isEqualTo(1.0);
        assertThat(BuiltinTask.goldReward("cb", "cba")).isCloseTo(2.0 / 3, within(1e-9));
        assertThat(BuiltinTask.goldReward("abc", "cba")).isCloseTo(1.0 / 3, within(1e-9));
        assertThat(BuiltinTask.goldReward("", "cba")).isEqualTo(0.0);
        assertThat(BuiltinTask.goldReward("xxxxxxxxxx", "cba")).isEqualTo(0.0);
    }

    @Test
    void idsAreStableAndDependOnTheText() {
        assertThat(BuiltinTask.idOf("rev ab=")).isEqualTo(BuiltinTask.idOf("rev ab=")).isNotEqualTo(BuiltinTask.idOf("rev ba="));
    }

    @Test
    void feedIsDeterministicRecurrentAndKeepsAddingNewPrompts() {
        PromptFeed feed = new PromptFeed(5, 100, 0.1);
        assertThat(feed.at(1234)).isEqualTo(new PromptFeed(5, 100, 0.1).at(1234));
        Set<String> firstPool = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            firstPool.add(feed.at(i).id());
        }
        int repeats = 0;
        Set<String> later = new HashSet<>();
        for (int i = 100; i < 2100; i++) {
            String id = feed.at(i).id();
            repeats += firstPool.contains(id) || later.contains(id) ? 1 : 0;
            later.add(id);
        }
        assertThat(repeats).isGreaterThan(1500); // most traffic recurs
        assertThat(later.size() - later.stream().filter(firstPool::contains).count()).isGreaterThan(100); // new prompts arrive
    }

    @Test
    void theDefaultOperandLengthDrawsTheSameTasksAsBefore() {
        // Runs, savepoints and benchmarks of the default task must not change with the new option.
        Rng a = new Rng(11);
        Rng b = new Rng(11);
        for (int i = 0; i < 200; i++) {
            assertThat(BuiltinTask.random(a, BuiltinTask.DEFAULT_MAX_OPERAND)).isEqualTo(BuiltinTask.random(b));
        }
        assertThat(BuiltinTask.heldOut(32, 3, BuiltinTask.DEFAULT_MAX_OPERAND)).isEqualTo(BuiltinTask.heldOut(32, 3));
        assertThat(BuiltinTask.heldOut(64, 3, 10).stream().mapToInt(p -> p.answer().length()).max().orElse(0)).isGreaterThan(4);
        assertThatThrownBy(() -> BuiltinTask.random(new Rng(1), 1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void heldOutSetIsFixedAndMixesKinds() {
        List<TaskPrompt> a = BuiltinTask.heldOut(64, 3);
        assertThat(a).isEqualTo(BuiltinTask.heldOut(64, 3));
        assertThat(a.stream().map(TaskPrompt::kind).distinct().count()).isEqualTo(TaskKind.values().length);
    }

    @Test
    void noisyDemonstrationsAreWrongAtTheConfiguredRate() {
        NoisyDemonstrations demos = new NoisyDemonstrations();
        Rng rng = new Rng(8);
        int wrong = 0;
        int rev = 0;
        for (int i = 0; i < 4000; i++) {
            TaskPrompt p = BuiltinTask.random(rng);
            if (p.kind() == TaskKind.REVERSE) {
                rev++;
                wrong += demos.demonstrate(p, rng).equals(p.answer()) ? 0 : 1;
            }
        }
        // 0.6 error rate, less the palindromes whose "error" is the answer.
        assertThat((double) wrong / rev).isBetween(0.45, 0.65);
    }
}
