package io.optune.connectors.builtin;

import io.optune.engine.Json;
import io.optune.engine.task.BuiltinTask;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class BuiltinPromptSourceTest {
    @Test
    void recordsAreValidPromptJsonAndAPureFunctionOfTheIndex() {
        BuiltinPromptSource.FeedFunction f = new BuiltinPromptSource.FeedFunction(3, 50, 0.1);
        String r = f.map(123L);
        assertThat(new BuiltinPromptSource.FeedFunction(3, 50, 0.1).map(123L)).isEqualTo(r);
        Map<String, Object> m = Json.readMap(r);
        assertThat(m).containsKeys("id", "text", "tenant");
        assertThat(BuiltinTask.parse((String) m.get("text"))).isNotNull();
        assertThat(m.get("id")).isEqualTo(BuiltinTask.idOf((String) m.get("text")));
    }
}
