package io.optune.jobs.bench;

import io.optune.jobs.EmbeddedMain;
import io.optune.operators.records.PolicyUpdate;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Turns benchmark runs into numbers. Definitions (also in docs/BENCHMARKS.md):
 *
 * <ul>
 *   <li>a run's curve: held-out gold reward of each published version against seconds since the job
 *       started (version 0, the shared SFT policy, at 0 s);
 *   <li>final reward: mean of the run's last three evaluated versions (one evaluation is noisy);
 *   <li>target (per seed, so configurations are compared on the same footing): SFT reward plus
 *       {@code targetFraction} of the gain full online DPO made by the end of its budget on that seed;
 *   <li>time to target: first crossing of the target, linearly interpolated between versions;
 *       tokens to target: generated tokens at that moment (interpolated from progress samples);
 *   <li>compute to target: generator plus trainer busy seconds at that moment (sampling and DPO
 *       steps only, waits for a device turn excluded; interpolated from progress samples): the cost
 *       when generation and training run on separate devices;
 *   <li>generation share: generator busy seconds over generator plus trainer busy seconds, whole run;
 *   <li>speedup: mean time (compute) to target of full online DPO over that of the configuration.
 * </ul>
 */
final class BenchmarkReport {
    private BenchmarkReport() {}

    static final int FINAL_POINTS = 3;

    record Point(double seconds, long version, long step, double reward) {}

    static List<Point> curve(OptuneBenchmark.Run run) {
        List<Point> points = new ArrayList<>();
        long start = run.summary().jobStartedAt();
        for (PolicyUpdate v : run.versions()) {
            double reward = v.version() == 0 ? run.sftReward() : v.heldOutReward();
            if (Double.isFinite(reward)) {
                points.add(new Point(v.version() == 0 ? 0 : Math.max(0, (v.publishedAt() - start) / 1e3), v.version(), v.step(), reward));
            }
        }
        return points;
    }

    static double finalReward(List<Point> c) {
        return c.subList(Math.max(0, c.size() - FINAL_POINTS), c.size()).stream().mapToDouble(Point::reward).average().orElse(Double.NaN);
    }

    static double timeToTarget(List<Point> c, double target) {
        for (int i = 0; i < c.size(); i++) {
            if (c.get(i).reward() >= target) {
                if (i == 0) {
                    return 0;
                }
                Point a = c.get(i - 1);
                Point b = c.get(i);
                return a.seconds() + (b.seconds() - a.seconds()) * (target - a.reward()) / (b.reward() - a.reward());
            }
        }
        return Double.NaN;
    }

    static double tokensAt(EmbeddedMain.Summary s, double seconds) {
        return at(s, seconds, EmbeddedMain.Progress::generatedTokens);
    }

    /** Generator plus trainer busy seconds at {@code seconds} after the job started (interpolated). */
    static double computeAt(EmbeddedMain.Summary s, double seconds) {
        return at(s, seconds, p -> (p.generatorBusyUs() + p.trainerBusyUs()) / 1e6);
    }

    /** A progress series at {@code seconds}, linear between samples (from 0 at 0 s), its last value after them. */
    private static double at(EmbeddedMain.Summary s, double seconds, java.util.function.ToDoubleFunction<EmbeddedMain.Progress> series) {
        if (Double.isNaN(seconds)) {
            return Double.NaN;
        }
        double prevT = 0;
        double prevValue = 0;
        for (EmbeddedMain.Progress p : s.timeline()) {
            double value = series.applyAsDouble(p);
            if (p.seconds() >= seconds) {
                return prevValue + (value - prevValue) * (seconds - prevT) / Math.max(1e-9, p.seconds() - prevT);
            }
            prevT = p.seconds();
            prevValue = value;
        }
        return prevValue;
    }

    /** Generator busy time over generator plus trainer busy time, at the last progress sample. */
    static double generationShare(EmbeddedMain.Summary s) {
        if (s.timeline().isEmpty()) {
            return Double.NaN;
        }
        EmbeddedMain.Progress last = s.timeline().get(s.timeline().size() - 1);
        long total = last.generatorBusyUs() + last.trainerBusyUs();
        return total == 0 ? Double.NaN : (double) last.generatorBusyUs() / total;
    }

    static void writeCurves(Path file, List<OptuneBenchmark.Run> runs) throws IOException {
        StringBuilder sb = new StringBuilder("config,seed,seconds,version,step,held_out_reward,compute_s\n");
        for (OptuneBenchmark.Run r : runs) {
            for (Point p : curve(r)) {
                sb.append(String.format(Locale.ROOT, "%s,%d,%.2f,%d,%d,%.5f,%.2f%n", r.setup(), r.seed(), p.seconds(), p.version(), p.step(),
                        p.reward(), computeAt(r.summary(), p.seconds())));
            }
        }
        Files.writeString(file, sb.toString());
    }

    static void write(Path out, List<OptuneBenchmark.Run> runs, List<String> setups, double targetFraction, Duration budget)
            throws IOException {
        writeCurves(out.resolve("curves.csv"), runs);
        StringBuilder runsCsv = new StringBuilder(
                "config,seed,sft_reward,final_reward,target,time_to_target_s,tokens_to_target,compute_to_target_s,generated_tokens,"
                        + "trainer_steps,prompts,regenerated_fraction,generation_share,sampling_us_per_token,prompts_per_batch,versions,sync_lag_p50_ms,"
                        + "sync_lag_p90_ms\n");
        List<double[]> perRun = new ArrayList<>(); // target, ttt, tokens, final, regen, compute, share, steps
        for (OptuneBenchmark.Run r : runs) {
            List<Point> c = curve(r);
            OptuneBenchmark.Run full = runs.stream().filter(x -> x.seed() == r.seed() && x.setup().equals("full")).findFirst().orElse(null);
            double fullFinal = full == null ? Double.NaN : finalReward(curve(full));
            double target = r.sftReward() + targetFraction * (fullFinal - r.sftReward());
            double ttt = timeToTarget(c, target);
            double tokens = tokensAt(r.summary(), ttt);
            double fin = finalReward(c);
            EmbeddedMain.Summary s = r.summary();
            double compute = computeAt(s, ttt);
            double share = generationShare(s);
            perRun.add(new double[] {target, ttt, tokens, fin, s.regeneratedFraction(), compute, share, s.trainerSteps()});
            EmbeddedMain.Progress last = s.timeline().isEmpty() ? null : s.timeline().get(s.timeline().size() - 1);
            double usPerToken = last == null || last.generatedTokens() == 0 ? Double.NaN : (double) last.generatorBusyUs() / last.generatedTokens();
            double promptsPerBatch = last == null || last.generatorBatches() == 0 ? Double.NaN
                    : (double) last.promptsRegenerated() / last.generatorBatches();
            runsCsv.append(String.format(Locale.ROOT, "%s,%d,%.4f,%.4f,%.4f,%.1f,%.0f,%.1f,%d,%d,%d,%.3f,%.3f,%.0f,%.1f,%d,%d,%d%n", r.setup(),
                    r.seed(), r.sftReward(), fin, target, ttt, tokens, compute, s.generatedTokens(), s.trainerSteps(), s.promptsIn(),
                    s.regeneratedFraction(), share, usPerToken, promptsPerBatch, r.versions().size(), s.weightSyncLagMsP50(),
                    s.weightSyncLagMsP90()));
        }
        Files.writeString(out.resolve("runs.csv"), runsCsv.toString());

        double fullTtt = Double.NaN;
        StringBuilder csv = new StringBuilder("config,runs,reached,time_to_target_s_mean,time_to_target_s_std,tokens_to_target_mean,"
                + "compute_to_target_s_mean,final_reward_mean,final_reward_std,final_vs_full,regenerated_fraction,generation_share,"
                + "trainer_steps,speedup_vs_full,compute_speedup_vs_full\n");
        StringBuilder md = new StringBuilder(String.format(Locale.ROOT,
                "| configuration | time to target (s) | compute to target (s) | tokens to target | final held-out reward | vs full "
                        + "| regenerated | generation share | trainer steps | speedup (time) | speedup (compute) |%n"
                        + "|---|---|---|---|---|---|---|---|---|---|---|%n"));
        List<Stats> stats = new ArrayList<>();
        for (String setup : setups) {
            List<double[]> rows = new ArrayList<>();
            for (int i = 0; i < runs.size(); i++) {
                if (runs.get(i).setup().equals(setup)) {
                    rows.add(perRun.get(i));
                }
            }
            stats.add(new Stats(setup, rows));
        }
        Stats full = stats.stream().filter(s -> s.name.equals("full")).findFirst().orElse(null);
        double fullCompute = Double.NaN;
        if (full != null) {
            fullTtt = full.mean(1);
            fullCompute = full.mean(5);
        }
        for (Stats s : stats) {
            double speedup = fullTtt / s.mean(1);
            double computeSpeedup = fullCompute / s.mean(5);
            double vsFull = full == null ? Double.NaN : s.mean(3) / full.mean(3) - 1;
            // Time, tokens and compute to target average over the runs that reached it; the rest over all runs.
            csv.append(String.format(Locale.ROOT, "%s,%d,%d,%.1f,%.1f,%.0f,%.1f,%.4f,%.4f,%.4f,%.3f,%.3f,%.0f,%.2f,%.2f%n", s.name,
                    s.rows.size(), s.reached(), s.mean(1), s.std(1), s.mean(2), s.mean(5), s.all(3), s.allStd(3), vsFull, s.all(4),
                    s.all(6), s.all(7), speedup, computeSpeedup));
            md.append(String.format(Locale.ROOT, "| %s | %.0f ± %.0f%s | %.0f | %.0fk | %.3f ± %.3f | %+.1f%% | %.0f%% | %.0f%% | %.0f "
                    + "| %.2fx | %.2fx |%n", s.name, s.mean(1), s.std(1),
                    s.reached() < s.rows.size() ? " (" + s.reached() + "/" + s.rows.size() + " reached)" : "", s.mean(5),
                    s.mean(2) / 1e3, s.all(3), s.allStd(3), 100 * vsFull, 100 * s.all(4), 100 * s.all(6), s.all(7), speedup,
                    computeSpeedup));
        }
        md.append(String.format(Locale.ROOT, "%nBudget %d s per run, %d runs; target = SFT + %.0f%% of full online DPO's final gain (per seed).%n",
                budget.toSeconds(), runs.size(), 100 * targetFraction));
        Files.writeString(out.resolve("summary.csv"), csv.toString());
        Files.writeString(out.resolve("summary.md"), md.toString());
        System.out.println(md);
    }

    /** Mean and sample standard deviation of one column over the runs that reached the target. */
    private static final class Stats {
        final String name;
        final List<double[]> rows;

        Stats(String name, List<double[]> rows) {
            this.name = name;
            this.rows = rows;
        }

        int reached() {
            return (int) rows.stream().filter(r -> !Double.isNaN(r[1])).count();
        }

        /** Mean over the runs that reached the target (to-target columns). */
        double mean(int col) {
            return column(col, true).average().orElse(Double.NaN);
        }

        /** Sample standard deviation over the runs that reached the target. */
        double std(int col) {
            return sampleStd(column(col, true).toArray());
        }

        /** Mean over every run (columns that exist whether or not a run reached the target). */
        double all(int col) {
            return column(col, false).average().orElse(Double.NaN);
        }

        double allStd(int col) {
            return sampleStd(column(col, false).toArray());
        }

        private java.util.stream.DoubleStream column(int col, boolean reachedOnly) {
            return rows.stream().filter(r -> !reachedOnly || !Double.isNaN(r[1])).mapToDouble(r -> r[col]).filter(Double::isFinite);
        }

        private static double sampleStd(double[] v) {
            if (v.length < 2) {
                return 0;
            }
            double m = java.util.Arrays.stream(v).average().orElse(0);
            double ss = 0;
            for (double x : v) {
                ss += (x - m) * (x - m);
            }
            return Math.sqrt(ss / (v.length - 1));
        }
    }
}
