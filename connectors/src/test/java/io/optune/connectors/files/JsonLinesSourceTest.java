package io.optune.connectors.files;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class JsonLinesSourceTest {
    @TempDir
    Path dir;

    @Test
    void aBoundedJsonLinesSourceReadsEveryLineOfADirectory() throws Exception {
        Files.writeString(dir.resolve("a.jsonl"), "{\"id\":\"1\",\"text\":\"rev ab=\"}\n{\"id\":\"2\",\"text\":\"copy a=\"}\n");
        Files.writeString(dir.resolve("b.jsonl"), "{\"id\":\"3\",\"text\":\"add 1+2=\"}\n");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        List<String> lines = new ArrayList<>();
        try (CloseableIterator<String> it = env.fromSource(JsonLinesFeedback.jsonLines(dir.toUri().toString(), null),
                WatermarkStrategy.noWatermarks(), "jsonl").executeAndCollect()) {
            it.forEachRemaining(lines::add);
        }
        assertThat(lines).hasSize(3).anyMatch(l -> l.contains("\"3\""));
    }
}
