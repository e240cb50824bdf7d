package io.optune.connectors.files.feedback;

import io.optune.connectors.files.JsonLinesFeedback;
import io.optune.engine.Json;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A feedback loop through a directory on a mini cluster, with checkpoints and one injected failure
 * after the feedback source: records go through an exactly-once file sink into the directory, come
 * back through {@link FeedbackDirectorySource} and land in a second exactly-once sink (the ledger).
 * Every record must reach the ledger exactly once (nothing deleted before its checkpoint completed,
 * nothing read twice), while the directory holds only the last few files.
 */
class FeedbackDirectorySourceITCase {
    static final int RECORDS = 3000;
    static final AtomicLong PASSED = new AtomicLong();
    static final AtomicBoolean FAILED = new AtomicBoolean();

    @TempDir
    Path dir;

    /** Throws once, in the middle of the stream read back. */
    static final class FailOnce implements MapFunction<String, String> {
        @Override
        public String map(String value) {
            if (PASSED.incrementAndGet() == RECORDS / 2 && FAILED.compareAndSet(false, true)) {
                throw new RuntimeException("injected failure after the feedback source");
            }
            return value;
        }
    }

    @Test
    void everyRecordComesBackOnceAndConsumedFilesAreDeletedAndTheJobStopsWithASavepoint() throws Exception {
        PASSED.set(0);
        FAILED.set(false);
        Path feedback = Files.createDirectories(dir.resolve("feedback"));
        Path ledger = dir.resolve("ledger");
        Configuration conf = new Configuration();
        conf.setString("execution.checkpointing.interval", "300ms");
        conf.setString("execution.checkpointing.dir", dir.resolve("checkpoints").toUri().toString());
        conf.setString("restart-strategy.type", "fixed-delay");
        conf.setString("restart-strategy.fixed-delay.attempts", "3");
        conf.setString("restart-strategy.fixed-delay.delay", "200ms");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, conf);

        env.fromSource(new DataGeneratorSource<>(i -> "r" + i, RECORDS, RateLimiterStrategy.perSecond(300), Types.STRING),
                        WatermarkStrategy.noWatermarks(), "records")
                .sinkTo(JsonLinesFeedback.sink(feedback.toUri().toString())).name("to-feedback");
        env.fromSource(FeedbackDirectorySource.consuming(feedback.toUri().toString(), Duration.ofMillis(100)),
                        WatermarkStrategy.noWatermarks(), "feedback-source")
                .map(new FailOnce()).name("fail-once")
                .map(line -> Json.read(line, String.class)).returns(Types.STRING).name("parse")
                .sinkTo(JsonLinesFeedback.sink(ledger.toUri().toString())).name("ledger");

        Set<String> seen = ConcurrentHashMap.newKeySet();
        int most = 0;
        JobClient job = env.executeAsync("feedback-loop");
        String savepoint;
        try {
            long deadline = System.currentTimeMillis() + 180_000;
            while (committedLines(ledger).size() < RECORDS && System.currentTimeMillis() < deadline) {
                List<String> now = committedFiles(feedback);
                seen.addAll(now);
                most = Math.max(most, now.size());
                Thread.sleep(50);
            }
            Thread.sleep(1500); // a few more checkpoints: anything committed twice would show now
        } finally {
            // Stops as the embedded run does: with a synchronous savepoint (the sources stop, the sinks commit).
            try {
                savepoint = job.stopWithSavepoint(false, dir.resolve("savepoints").toUri().toString(),
                        org.apache.flink.core.execution.SavepointFormatType.CANONICAL).get(120, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                job.cancel().get();
                throw e;
            }
        }
        List<String> lines = committedLines(ledger);
        Map<String, Long> perRecord = lines.stream().collect(Collectors.groupingBy(Function.identity(), Collectors.counting()));
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            expected.add("\"r" + i + "\"");
        }
        List<String> left = committedFiles(feedback);
        System.out.printf("[feedback-loop] %d records back, %d committed feedback files seen, at most %d at once, %d left%n",
                lines.size(), seen.size(), most, left.size());
        assertThat(FAILED).as("the failure was injected").isTrue();
        assertThat(savepoint).as("stopped with a savepoint").isNotNull();
        assertThat(perRecord.keySet()).as("records in the ledger").containsExactlyInAnyOrderElementsOf(expected);
        assertThat(perRecord).as("each record once").allSatisfy((r, n) -> assertThat(n).as(r).isEqualTo(1L));
        assertThat(seen.size()).as("feedback files that went through").isGreaterThanOrEqualTo(10);
        assertThat(left).as("committed feedback files left").hasSizeLessThanOrEqualTo(4);
    }

    private static List<String> committedFiles(Path d) throws IOException {
        if (!Files.exists(d)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(d)) {
            return files.filter(Files::isRegularFile).map(f -> f.getFileName().toString()).filter(n -> !n.startsWith(".")).toList();
        } catch (java.io.UncheckedIOException vanished) {
            return List.of(); // a file deleted while walked: next round
        }
    }

    private static List<String> committedLines(Path d) throws IOException {
        List<String> out = new ArrayList<>();
        if (!Files.exists(d)) {
            return out;
        }
        try (Stream<Path> files = Files.walk(d)) {
            for (Path f : files.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith(".")).toList()) {
                Files.readAllLines(f).stream().filter(l -> !l.isBlank()).forEach(out::add);
            }
        } catch (java.io.UncheckedIOException | java.nio.file.NoSuchFileException renamedWhileWalked) {
            return List.of(); // the sink committed a file meanwhile: next round
        }
        return out;
    }
}
