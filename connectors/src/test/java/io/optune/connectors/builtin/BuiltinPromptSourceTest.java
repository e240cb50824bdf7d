package io.optune.connectors.builtin;

import io.optune.engine.Json;
import io.optune.engine.task.BuiltinTask;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class BuiltinPromptSourceTest {
    @Test
    void recordsAreValidPromptJsonAndAPureFunctionOfTheIndex() {
        BuiltinPromptSource.FeedFunction f = new BuiltinPromptSource.FeedFunction(3, 50, 0.1, BuiltinTask.DEFAULT_MAX_OPERAND);
        String r = f.map(123L);
        assertThat(new BuiltinPromptSource.FeedFunction(3, 50, 0.1, BuiltinTask.DEFAULT_MAX_OPERAND).map(123L)).isEqualTo(r);
        Map<String, Object> m = Json.readMap(r);
        assertThat(m).containsKeys("id", "text", "tenant");
        assertThat(BuiltinTask.parse((String) m.get("text"))).isNotNull();
        assertThat(m.get("id")).isEqualTo(BuiltinTask.idOf((String) m.get("text")));
    }

    @Test
    void longerOperandsMakeLongerAnswersOfTheSameTask() {
        BuiltinPromptSource.FeedFunction f = new BuiltinPromptSource.FeedFunction(3, 5000, 0.1, 10);
        int longest = 0;
        for (long i = 0; i < 400; i++) {
            var p = BuiltinTask.parse((String) Json.readMap(f.map(i)).get("text"));
            assertThat(p).isNotNull();
            if (p.kind() != io.optune.engine.task.TaskKind.ADD) {
                assertThat(p.answer().length()).isBetween(2, 10);
                longest = Math.max(longest, p.answer().length());
            }
        }
        assertThat(longest).as("operands reach the configured length").isEqualTo(10);
    }
}
