package io.optune.jobs;

import io.optune.engine.Json;
import io.optune.operators.generate.GeneratorMetrics;
import io.optune.operators.ingest.IngestFunction;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.select.SelectFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class SummaryReportTest {
    @TempDir
    Path dir;

    private static PolicyUpdate version(long v, double heldOut) {
        return new PolicyUpdate(v, 20 * v, "file:/w/v" + v, "sha", 1_000 + v, 0.5, 1.0, -0.2, 0.9, 0.1, heldOut);
    }

    private static SummaryReport.Builder inputs(List<PolicyUpdate> versions, PolicyUpdate baseline) {
        return SummaryReport.Inputs.builder().runDir(Path.of("/runs/a")).baseline(baseline).versions(versions).jobStartedAt(1_000)
                .minutes(5).savepoint("file:/runs/a/savepoints/savepoint-1");
    }

    @Test
    void namesTheBaselineAndReportsTheBestAndTheLastVersion() {
        List<PolicyUpdate> versions = List.of(version(0, 0.55), version(1, 0.70), version(2, 0.76), version(3, 0.74));
        EmbeddedMain.Summary s = SummaryReport.summarize(inputs(versions, versions.get(0)).accumulators(Map.of(
                IngestFunction.ACC_PROMPTS_IN, 100L, SelectFunction.ACC_REGENERATED, 25L, SelectFunction.ACC_REUSED, 75L,
                GeneratorMetrics.ACC_LAG_SAMPLES, List.of(40L, 10L, 20L, 30L), GeneratorMetrics.ACC_LAG_MAX, 40L,
                GeneratorMetrics.ACC_LAG_MEAN, 25.0)).build());
        assertThat(s.baselineVersion()).isZero();
        assertThat(s.finalVersion()).isEqualTo(3);
        assertThat(s.finalHeldOutReward()).isEqualTo(0.74);
        assertThat(s.bestVersion()).isEqualTo(2);
        assertThat(s.bestHeldOutReward()).isEqualTo(0.76);
        assertThat(s.versionsEmitted()).isEqualTo(3);
        assertThat(s.weightSyncLagMsP50()).isEqualTo(20);
        assertThat(s.weightSyncLagMsMax()).isEqualTo(40);
        String text = SummaryReport.format(s);
        assertThat(text).contains("SFT warm start (v0) 0.550 -> last v3 0.740 (+0.190); best v2 0.760 (+0.210)")
                .contains("3 this run").contains("25% regenerated").contains("p50 20 ms");
    }

    @Test
    void saysWhatWasNotMeasuredInsteadOfPrintingSentinels() throws Exception {
        List<PolicyUpdate> versions = List.of(version(0, Double.NaN), version(1, Double.NaN));
        EmbeddedMain.Summary s = SummaryReport.summarize(inputs(versions, versions.get(0))
                // what Flink's accumulators hold when no generator loaded a version: LongMaximum's start value
                .accumulators(Map.of(GeneratorMetrics.ACC_LAG_MAX, Long.MIN_VALUE, GeneratorMetrics.ACC_LAG_MEAN, 0.0)).build());
        assertThat(s.finalHeldOutReward()).isNull();
        assertThat(s.bestVersion()).isNull();
        assertThat(s.weightSyncLagMsMax()).isNull();
        assertThat(s.weightSyncLagMsMean()).isNull();
        String text = SummaryReport.format(s);
        assertThat(text).contains("held-out gold reward: not measured (no held-out set")
                .contains("weight sync lag: not measured").doesNotContain("NaN").doesNotContain(String.valueOf(Long.MIN_VALUE));
        // the summary's own figures (the version records keep their raw values: NaN where not evaluated)
        var tree = (com.fasterxml.jackson.databind.node.ObjectNode) Json.MAPPER.valueToTree(s);
        tree.remove("versions");
        assertThat(tree.toString()).doesNotContain("NaN").doesNotContain(String.valueOf(Long.MIN_VALUE));
    }

    @Test
    void aResumedRunCountsItsOwnVersionsAndNamesWhereItResumed() {
        List<PolicyUpdate> versions = List.of(version(0, 0.55), version(1, 0.6), version(2, 0.65), version(3, 0.7), version(4, 0.72));
        EmbeddedMain.Summary s = SummaryReport.summarize(inputs(versions, versions.get(2))
                .resumePoint(new RunDirectory.ResumePoint(Path.of("/runs/a/checkpoints/j/chk-9"), false, 1)).build());
        assertThat(s.versionsEmitted()).isEqualTo(2);
        assertThat(s.versionsTotal()).isEqualTo(4);
        assertThat(s.resumedFrom()).isEqualTo("/runs/a/checkpoints/j/chk-9");
        assertThat(SummaryReport.format(s)).contains("v2, where this run resumed 0.650 -> last v4 0.720 (+0.070)")
                .contains("SFT warm start v0: 0.550").contains("2 this run (v3..v4), 4 since v0 in total");
    }

    @Test
    void deadLettersAreCountedFromEveryStepsCommittedFiles() throws Exception {
        Path d = dir.resolve("dead-letters/2026-11-27--14");
        Files.createDirectories(d);
        String ingest = Json.write(new DeadLetter("r1", "p1", "ingest", "malformed-json", "x", "{", 5_000));
        String score = Json.write(new DeadLetter("r2", "p2", "score", "unscorable-prompt", "x", "hi", 6_000));
        String old = Json.write(new DeadLetter("r0", "p0", "generate", "too-long", "x", "long", 500));
        Files.writeString(d.resolve("part-a-0"), ingest + "\n" + score + "\n" + score + "\n");
        Files.writeString(d.resolve("part-b-0"), old + "\n");
        Files.writeString(d.resolve(".part-c-0.inprogress.1234"), score + "\n"); // not committed
        DeadLetterCounts c = DeadLetterCounts.count(dir.resolve("dead-letters").toUri().toString(), 1_000);
        assertThat(c.total()).isEqualTo(4);
        assertThat(c.since()).isEqualTo(3);
        assertThat(c.byReason()).containsExactly(Map.entry("ingest/malformed-json", 1L), Map.entry("score/unscorable-prompt", 2L));
        assertThat(DeadLetterCounts.count(dir.resolve("none").toUri().toString(), 0).total()).isZero();
    }
}
