package io.optune.jobs;

import io.optune.operators.generate.GeneratorMetrics;
import io.optune.operators.ingest.IngestFunction;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.select.SelectFunction;

import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Builds an embedded run's {@link EmbeddedMain.Summary} and its console form, naming every figure for what it is. */
final class SummaryReport {
    private SummaryReport() {}

    /** What the summary is made from. */
    record Inputs(Path runDir, RunDirectory.ResumePoint resumePoint, PolicyUpdate baseline, List<PolicyUpdate> versions,
            Map<String, Object> accumulators, DeadLetterCounts deadLetters, long jobStartedAt, double minutes, String weightLog,
            String savepoint, String checkpoint, String dashboard, List<EmbeddedMain.Progress> timeline) {
        static Builder builder() {
            return new Builder();
        }
    }

    /** Builder of {@link Inputs}. */
    static final class Builder {
        private Path runDir;
        private RunDirectory.ResumePoint resumePoint;
        private PolicyUpdate baseline;
        private List<PolicyUpdate> versions;
        private Map<String, Object> accumulators = Map.of();
        private DeadLetterCounts deadLetters = new DeadLetterCounts(0, 0, Map.of());
        private long jobStartedAt;
        private double minutes;
        private String weightLog;
        private String savepoint;
        private String checkpoint;
        private String dashboard;
        private List<EmbeddedMain.Progress> timeline = List.of();

        Builder runDir(Path v) { runDir = v; return this; }
        Builder resumePoint(RunDirectory.ResumePoint v) { resumePoint = v; return this; }
        Builder baseline(PolicyUpdate v) { baseline = v; return this; }
        Builder versions(List<PolicyUpdate> v) { versions = v; return this; }
        Builder accumulators(Map<String, Object> v) { accumulators = v; return this; }
        Builder deadLetters(DeadLetterCounts v) { deadLetters = v; return this; }
        Builder jobStartedAt(long v) { jobStartedAt = v; return this; }
        Builder minutes(double v) { minutes = v; return this; }
        Builder weightLog(String v) { weightLog = v; return this; }
        Builder savepoint(String v) { savepoint = v; return this; }
        Builder checkpoint(String v) { checkpoint = v; return this; }
        Builder dashboard(String v) { dashboard = v; return this; }
        Builder timeline(List<EmbeddedMain.Progress> v) { timeline = v; return this; }

        Inputs build() {
            return new Inputs(runDir, resumePoint, baseline, versions, accumulators, deadLetters, jobStartedAt, minutes,
                    weightLog, savepoint, checkpoint, dashboard, timeline);
        }
    }

    static EmbeddedMain.Summary summarize(Inputs in) {
        Map<String, Object> acc = in.accumulators();
        List<PolicyUpdate> versions = in.versions();
        PolicyUpdate last = versions.get(versions.size() - 1);
        long baseVersion = in.baseline().version();
        Optional<PolicyUpdate> best = versions.stream().filter(v -> !Double.isNaN(v.heldOutReward()))
                .max(Comparator.comparingDouble(PolicyUpdate::heldOutReward).thenComparingLong(PolicyUpdate::version));
        Double sft = versions.stream().filter(v -> v.version() == 0).findFirst().map(v -> finite(v.heldOutReward())).orElse(null);
        long regenerated = EmbeddedMain.longAcc(acc, SelectFunction.ACC_REGENERATED);
        long reused = EmbeddedMain.longAcc(acc, SelectFunction.ACC_REUSED);
        long[] lags = acc.get(GeneratorMetrics.ACC_LAG_SAMPLES) instanceof List<?> l
                ? l.stream().mapToLong(x -> ((Number) x).longValue()).sorted().toArray() : new long[0];
        // LongMaximum starts at Long.MIN_VALUE and the mean at 0: without a sample neither is a lag.
        boolean lagMeasured = lags.length > 0;
        Object lagMean = acc.get(GeneratorMetrics.ACC_LAG_MEAN);
        return new EmbeddedMain.Summary(
                in.runDir() == null ? null : in.runDir().toString(),
                in.resumePoint() == null ? null : in.resumePoint().path().toString(),
                baseVersion, finite(in.baseline().heldOutReward()), sft,
                finite(last.heldOutReward()), last.version(),
                best.map(v -> v.heldOutReward()).orElse(null), best.map(PolicyUpdate::version).orElse(null),
                versions.stream().filter(v -> v.version() > baseVersion).count(),
                versions.stream().filter(v -> v.version() > 0).count(),
                last.step(),
                EmbeddedMain.longAcc(acc, IngestFunction.ACC_PROMPTS_IN), regenerated, reused,
                regenerated + reused == 0 ? 0 : (double) regenerated / (regenerated + reused),
                in.deadLetters().since(), in.deadLetters().byReason(), in.deadLetters().total(),
                EmbeddedMain.longAcc(acc, GeneratorMetrics.ACC_VERSIONS_LOADED),
                lagMeasured && lagMean instanceof Number n ? n.doubleValue() : null,
                EmbeddedMain.percentile(lags, 0.5), EmbeddedMain.percentile(lags, 0.9),
                lagMeasured ? EmbeddedMain.longAcc(acc, GeneratorMetrics.ACC_LAG_MAX) : null,
                EmbeddedMain.longAcc(acc, GeneratorMetrics.ACC_TOKENS), in.jobStartedAt(), in.minutes(), in.weightLog(),
                in.savepoint(), in.checkpoint(), in.dashboard(), versions, in.timeline(),
                EmbeddedMain.longAcc(acc, SelectFunction.ACC_IN_FLIGHT));
    }

    private static Double finite(double x) {
        return Double.isFinite(x) ? x : null;
    }

    /** The console summary: one fact per line, and "none" or "not measured" where there is nothing to show. */
    static String format(EmbeddedMain.Summary s) {
        StringBuilder b = new StringBuilder("Summary of ").append(s.runDir()).append(String.format(" (%.1f min)%n", s.minutes()));
        String baseName = s.resumedFrom() == null ? "SFT warm start (v0)" : "v" + s.baselineVersion() + ", where this run resumed";
        if (s.finalHeldOutReward() == null || s.baselineHeldOutReward() == null) {
            b.append("  held-out gold reward: not measured (no held-out set: optune.train.held-out-size is 0, or the reward is not the "
                    + "built-in task's)\n");
        } else {
            b.append(String.format("  held-out gold reward: %s %.3f -> last v%d %.3f (%+.3f)", baseName, s.baselineHeldOutReward(),
                    s.finalVersion(), s.finalHeldOutReward(), s.finalHeldOutReward() - s.baselineHeldOutReward()));
            if (s.bestVersion() != null) {
                b.append(String.format("; best v%d %.3f (%+.3f)", s.bestVersion(), s.bestHeldOutReward(),
                        s.bestHeldOutReward() - s.baselineHeldOutReward()));
            }
            b.append('\n');
            if (s.resumedFrom() != null && s.sftHeldOutReward() != null) {
                b.append(String.format("    (SFT warm start v0: %.3f; last vs v0 %+.3f)%n", s.sftHeldOutReward(),
                        s.finalHeldOutReward() - s.sftHeldOutReward()));
            }
        }
        b.append(String.format("  policy versions: %d this run (v%d..v%d), %d since v0 in total; trainer step %d%n",
                s.versionsEmitted(), s.baselineVersion() + (s.versionsEmitted() > 0 ? 1 : 0), s.finalVersion(), s.versionsTotal(),
                s.trainerSteps()));
        b.append(String.format("  prompts in %d: regenerated %d, reused %d (%.0f%% regenerated)%n", s.promptsIn(), s.promptsRegenerated(),
                s.promptsReused(), 100 * s.regeneratedFraction()));
        b.append("  dead letters (every step, committed): ").append(s.deadLetters());
        if (!s.deadLettersByReason().isEmpty()) {
            b.append(' ').append(s.deadLettersByReason());
        }
        if (s.deadLettersTotal() != s.deadLetters()) {
            b.append("; ").append(s.deadLettersTotal()).append(" in the directory with earlier jobs'");
        }
        b.append('\n');
        if (s.weightSyncLagMsP50() == null) {
            b.append("  weight sync lag: not measured (no generator loaded a new version during the run)\n");
        } else {
            b.append(String.format("  weight sync lag: p50 %d ms, p90 %d ms, max %d ms over %d version loads%n", s.weightSyncLagMsP50(),
                    s.weightSyncLagMsP90(), s.weightSyncLagMsMax(), s.generatorVersionLoads()));
        }
        b.append("  ").append(s.savepoint() != null ? "savepoint " + s.savepoint()
                : "no savepoint; newest retained checkpoint " + s.checkpoint());
        return b.toString();
    }
}
