package io.optune.jobs.bench;

import io.optune.jobs.EmbeddedMain;
import io.optune.operators.records.PolicyUpdate;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class BenchmarkReportTest {
    private static EmbeddedMain.Progress progress(double seconds, long genUs, long trainUs) {
        return new EmbeddedMain.Progress(seconds, 0, 0, 0, 0, 0, 0, null, genUs, trainUs, 0);
    }

    @Test
    void timeToTargetInterpolatesTheFirstCrossing() {
        List<BenchmarkReport.Point> c = List.of(new BenchmarkReport.Point(0, 0, 0, 0.5), new BenchmarkReport.Point(10, 1, 20, 0.6),
                new BenchmarkReport.Point(20, 2, 40, 0.8), new BenchmarkReport.Point(30, 3, 60, 0.7));
        assertThat(BenchmarkReport.timeToTarget(c, 0.7)).isCloseTo(15.0, within(1e-9));
        assertThat(BenchmarkReport.timeToTarget(c, 0.5)).isZero();
        assertThat(BenchmarkReport.timeToTarget(c, 0.9)).isNaN();
    }

    @Test
    void computeToTargetIsTheBusyTimeOfBothRolesAtThatMoment() {
        List<EmbeddedMain.Progress> timeline = List.of(progress(10, 6_000_000, 2_000_000), progress(20, 14_000_000, 4_000_000));
        EmbeddedMain.Summary s = summary(timeline);
        assertThat(BenchmarkReport.computeAt(s, 5)).isCloseTo(4.0, within(1e-9)); // from (0 s, 0) to (10 s, 8 s busy)
        assertThat(BenchmarkReport.computeAt(s, 15)).isCloseTo(13.0, within(1e-9));
        assertThat(BenchmarkReport.computeAt(s, 99)).isCloseTo(18.0, within(1e-9)); // past the last sample: its value
        assertThat(BenchmarkReport.computeAt(s, Double.NaN)).isNaN();
        assertThat(BenchmarkReport.generationShare(s)).isCloseTo(14.0 / 18, within(1e-9));
    }

    @Test
    void evaluationSampleSpreadsEvenlyAndKeepsTheLastThree() {
        List<PolicyUpdate> versions = new ArrayList<>();
        for (long v = 0; v <= 100; v++) {
            versions.add(new PolicyUpdate(v, 20 * v, null, null, v, 0, 0, 0, 0, 0, Double.NaN));
        }
        List<PolicyUpdate> sample = OptuneBenchmark.evaluationSample(versions, 10);
        assertThat(sample).hasSize(10);
        assertThat(sample.stream().map(PolicyUpdate::version)).doesNotContain(0L).contains(98L, 99L, 100L).isSorted();
        assertThat(sample.get(0).version()).isLessThan(15); // spread from the start, not bunched at the end
        assertThat(OptuneBenchmark.evaluationSample(versions.subList(0, 5), 10)).hasSize(4); // fewer versions than points: all
    }

    private static EmbeddedMain.Summary summary(List<EmbeddedMain.Progress> timeline) {
        return new EmbeddedMain.Summary("run", null, 0, null, null, null, 0, null, null, 0, 0, 0, 0, 0, 0, 0, 0, java.util.Map.of(),
                0, 0, null, null, null, null, 0, 0, 0, null, null, null, null, List.of(), timeline, 0);
    }
}
