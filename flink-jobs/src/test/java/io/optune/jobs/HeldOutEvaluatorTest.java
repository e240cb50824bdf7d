package io.optune.jobs;

import io.optune.operators.evaluate.HeldOutEvaluation;
import io.optune.operators.records.PolicyUpdate;
import io.optune.connectors.weights.FileSystemWeightLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class HeldOutEvaluatorTest {
    @TempDir
    Path dir;

    private static PolicyUpdate version(long v) {
        return new PolicyUpdate(v, 20 * v, "loc", "sha", 1000 + v, 0, 0, 0, 0, 0, Double.NaN);
    }

    @Test
    void recordsTheJobsResultsOnceKeepsThemOnDiskAndFillsThemIntoTheHistory() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.resolve("weights").toUri().toString()).build();
        HeldOutEvaluation evaluation = new HeldOutEvaluation(log, 8, 1, 4, 24, 8);
        Path file = dir.resolve("held-out.csv");
        List<PolicyUpdate> history = List.of(version(0), version(1), version(2), version(3));
        HeldOutEvaluator e = new HeldOutEvaluator(evaluation, file);
        e.record(List.of("1,0.5", "3,0.75"), history);
        e.record(List.of("1,0.5", "3,0.75"), history); // the accumulator is cumulative: nothing is recorded twice
        assertThat(Files.readAllLines(file)).hasSize(3).first().isEqualTo(HeldOutEvaluator.HEADER);
        List<PolicyUpdate> filled = e.apply(history);
        assertThat(filled).extracting(PolicyUpdate::heldOutReward).containsExactly(Double.NaN, 0.5, Double.NaN, 0.75);
        assertThat(filled.get(3).step()).isEqualTo(60);
        // A resumed run reads them back.
        assertThat(new HeldOutEvaluator(evaluation, file).apply(history)).isEqualTo(filled);
        // Results the job did not report are ignored; a missing accumulator is no result.
        e.record(null, history);
        assertThat(e.evaluated()).isEqualTo(2);
    }
}
