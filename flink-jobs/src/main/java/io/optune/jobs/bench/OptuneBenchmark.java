package io.optune.jobs.bench;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.jobs.PolicySigning;
import io.optune.operators.weights.SigningKeys;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.weights.VersionWriter;
import io.optune.engine.loop.LoopConfig;
import io.optune.engine.loop.LoopReport;
import io.optune.engine.loop.OfflineLoopMain;
import io.optune.jobs.EmbeddedMain;
import io.optune.jobs.HeldOutEvaluator;
import io.optune.operators.evaluate.HeldOutEvaluation;
import io.optune.jobs.InitialPolicy;
import io.optune.jobs.JobConfig;
import io.optune.jobs.OptuneOptions;
import io.optune.operators.records.PolicyUpdate;
import org.apache.flink.configuration.Configuration;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The benchmark: OPTune against full online DPO on the built-in task, through the same embedded
 * topology, same seeds and same wall-clock budget per run; and the pipeline tax (the topology
 * against a plain Java loop calling the same engine on the same work).
 *
 * <pre>
 * bin/optune-bench [--out DIR] [--seeds 1,2,3] [--budget 120s] [--configs full,optune-0.5,...]
 *                  [--ablations optune-0.5-beta2-0.5,...] [--regime default|paper] [--eval-points 24]
 *                  [--held-out-size 256] [--target-fraction 0.8] [--pipeline-budget 60s]
 *                  [--skip-table] [--skip-pipeline] [--optune.* overrides for every run]
 * </pre>
 *
 * <p>Runs do no held-out evaluation while they run (it would take CPU from what is measured): each
 * keeps every version, and up to {@code --eval-points} of them, evenly spread and always the last
 * three, are evaluated after it ends. Ablations run on the first seed only. {@code --regime paper}
 * is the OPTune paper's setting ({@link #PAPER_REGIME}).
 *
 * Each seed gets one SFT warm start, shared by all its runs (version 0 of every run's weight log).
 * Configurations run in a rotated order per seed, so slow drift of the machine does not favour one.
 * Outputs under DIR: {@code curves.csv} (every policy version of every run), {@code runs.csv} (one
 * line per run), {@code summary.csv} and {@code summary.md} (per configuration), {@code pipeline.csv}.
 */
public final class OptuneBenchmark {
    private OptuneBenchmark() {}

    /** A benchmarked configuration: a name and its option overrides. */
    record Setup(String name, String... overrides) {
        static Setup of(String name, String strategy, String rho, String weighting, String... more) {
            String[] base = {"--optune.select.strategy", strategy, "--optune.select.rho", rho, "--optune.pairs.weighting", weighting};
            return new Setup(name, concat(base, more));
        }
    }

    static final Map<String, Setup> SETUPS = new LinkedHashMap<>();

    static {
        for (Setup s : List.of(
                Setup.of("full", "ALL", "1.0", "NONE"),
                Setup.of("optune-0.25", "OPTUNE", "0.25", "EXP"),
                Setup.of("optune-0.5", "OPTUNE", "0.5", "EXP"),
                Setup.of("optune-0.75", "OPTUNE", "0.75", "EXP"),
                Setup.of("random-0.5", "RANDOM", "0.5", "EXP"),
                Setup.of("optune-0.5-unweighted", "OPTUNE", "0.5", "NONE"),
                Setup.of("optune-auto", "OPTUNE", "auto", "EXP"),
                // The two ablations the paper's reviewers asked for: the weight scale and the ranking basis.
                Setup.of("optune-0.5-beta2-0.5", "OPTUNE", "0.5", "EXP", "--optune.pairs.beta2", "0.5"),
                Setup.of("optune-0.5-beta2-1", "OPTUNE", "0.5", "EXP", "--optune.pairs.beta2", "1"),
                Setup.of("optune-0.5-beta2-4", "OPTUNE", "0.5", "EXP", "--optune.pairs.beta2", "4"),
                Setup.of("optune-0.5-normalised", "OPTUNE", "0.5", "EXP", "--optune.select.score-basis", "PROMPT_NORMALISED"),
                // Reference refresh (TRL's sync_ref_model): half-way towards the policy every 100 steps.
                Setup.of("optune-0.5-refresh", "OPTUNE", "0.5", "EXP", "--optune.train.reference-refresh-every", "100",
                        "--optune.train.reference-mixup", "0.5"))) {
            SETUPS.put(s.name(), s);
        }
    }

    /** The configurations run when {@code --configs} is not given (the table of docs/BENCHMARKS.md section 1). */
    static final List<String> DEFAULT_CONFIGS = List.of("full", "optune-0.25", "optune-0.5", "optune-0.75", "random-0.5",
            "optune-0.5-unweighted");

    /**
     * {@code --regime paper}: the OPTune paper's regime on the built-in task. Generators and trainer take
     * turns on one device (a round costs generation plus training), K = 8 responses of up to 10
     * letters, so that full online DPO spends most of its time generating (measured and reported).
     */
    static final List<String> PAPER_REGIME = List.of("--optune.engine.colocate", "true",
            "--optune.generate.samples-per-prompt", "8", "--optune.source.builtin.max-operand-length", "10",
            "--optune.generate.max-new-tokens", "14");

    /** One run's result. */
    record Run(String setup, long seed, double sftReward, List<PolicyUpdate> versions, EmbeddedMain.Summary summary) {}

    public static void main(String[] rawArgs) throws Exception {
        // Arguments may arrive as one string (from a build tool property): split on white space.
        String joined = String.join(" ", rawArgs).trim();
        String[] args = joined.isEmpty() ? new String[0] : joined.split("\\s+");
        Map<String, String> opts = new LinkedHashMap<>();
        List<String> passThrough = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.isBlank()) {
                continue;
            }
            if (a.startsWith("--") && a.substring(2).contains(".")) { // an option of the job or of Flink
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("option " + a + " needs a value");
                }
                passThrough.add(a);
                passThrough.add(args[++i]);
            } else if (a.equals("--skip-table") || a.equals("--skip-pipeline")) {
                opts.put(a.substring(2), "true");
            } else if (List.of("--out", "--seeds", "--budget", "--configs", "--ablations", "--target-fraction", "--pipeline-budget",
                    "--regime", "--eval-points", "--held-out-size").contains(a)
                    && i + 1 < args.length) {
                opts.put(a.substring(2), args[++i]);
            } else {
                throw new IllegalArgumentException("unexpected argument '" + a + "' (see the class comment for usage)");
            }
        }
        Path out = Path.of(opts.getOrDefault("out", "bench-results")).toAbsolutePath();
        long[] seeds = Arrays.stream(opts.getOrDefault("seeds", "1,2,3").split(",")).mapToLong(Long::parseLong).toArray();
        Duration budget = parseDuration(opts.getOrDefault("budget", "120s"));
        List<Setup> setups = setups(opts.getOrDefault("configs", String.join(",", DEFAULT_CONFIGS)));
        // Ablations run on the first seed only (with that seed's full run as their reference).
        List<Setup> ablations = opts.containsKey("ablations") ? setups(opts.get("ablations")) : List.of();
        String regime = opts.getOrDefault("regime", "default");
        if (regime.equals("paper")) {
            passThrough.addAll(0, PAPER_REGIME); // explicit options given after it still win
        } else if (!regime.equals("default")) {
            throw new IllegalArgumentException("--regime is default or paper: " + regime);
        }
        int evalPoints = Integer.parseInt(opts.getOrDefault("eval-points", "24"));
        int heldOutSize = Integer.parseInt(opts.getOrDefault("held-out-size", "256"));
        double targetFraction = Double.parseDouble(opts.getOrDefault("target-fraction", "0.8"));
        Files.createDirectories(out);

        // One signing key for the whole benchmark: every run's weight log starts from the same signed SFT policy.
        Path keys = out.resolve("keys");
        if (!Files.exists(keys.resolve(SigningKeys.PUBLIC_FILE))) {
            SigningKeys.generateInto(keys);
        }
        passThrough.addAll(List.of("--optune.weights.signing.private-key", keys.resolve(SigningKeys.PRIVATE_FILE).toString(),
                "--optune.weights.signing.public-key", keys.resolve(SigningKeys.PUBLIC_FILE).toString()));
        if (!opts.containsKey("skip-table")) {
            List<Run> runs = new ArrayList<>();
            for (long seed : seeds) {
                Path sft = out.resolve("seed-" + seed).resolve("sft-weights");
                Configuration base = config(out.resolve("seed-" + seed).resolve("sft-run"), seed, budget, passThrough,
                        "--optune.weights.path", sft.toUri().toString(), "--optune.train.held-out-size", String.valueOf(heldOutSize));
                FileSystemWeightLog sftLog = PolicySigning.weightLog(base, base.toMap(), sft.toUri().toString(), null);
                sftLog.initialize();
                PolicyUpdate v0 = InitialPolicy.ensure(base, sftLog, OptuneBenchmark::say);
                VerifiedVersion v0Files = sftLog.readVerified(v0);
                List<Setup> order = new ArrayList<>();
                int rotate = (int) Math.floorMod(seed, setups.size());
                for (int k = 0; k < setups.size(); k++) {
                    order.add(setups.get((k + rotate) % setups.size()));
                }
                if (seed == seeds[0]) {
                    ablations.stream().filter(a -> !setups.contains(a)).forEach(order::add);
                }
                for (Setup setup : order) {
                    Path runDir = out.resolve("seed-" + seed).resolve(setup.name());
                    Path weights = runDir.resolve("weights");
                    EmbeddedMain.deleteRecursively(runDir);
                    FileSystemWeightLog log = PolicySigning.weightLog(base, base.toMap(), weights.toUri().toString(), null);
                    log.initialize();
                    log.publish(new PolicyUpdate(0, 0, null, null, System.currentTimeMillis(), Double.NaN, Double.NaN, Double.NaN,
                            Double.NaN, 0, v0.heldOutReward()), VersionWriter.copyOf(v0Files.dir()));
                    say(String.format("=== seed %d, %s (%d of %d) ===", seed, setup.name(), runs.size() + 1, total(seeds, setups, ablations)));
                    // No evaluation during the run (it would take CPU from the run it measures): every version
                    // stays in the log and a sample of them is evaluated once the run has ended.
                    String[] extra = concat(setup.overrides(), "--optune.weights.path", weights.toUri().toString(),
                            "--optune.embedded.summary-path", runDir.resolve("summary.json").toString(),
                            "--optune.train.held-out-size", "0", "--optune.weights.retain-versions", "0");
                    Configuration conf = config(runDir.resolve("run"), seed, budget, passThrough, extra);
                    EmbeddedMain.Summary s = EmbeddedMain.run(conf);
                    long t0 = System.nanoTime();
                    HeldOutEvaluator evaluator = new HeldOutEvaluator(new HeldOutEvaluation(log, heldOutSize, seed,
                            conf.get(OptuneOptions.BUILTIN_MAX_OPERAND), conf.get(OptuneOptions.MAX_PROMPT_TOKENS),
                            conf.get(OptuneOptions.MAX_NEW_TOKENS)), runDir.resolve(EmbeddedMain.HELD_OUT_FILE));
                    List<PolicyUpdate> sample = evaluationSample(s.versions(), evalPoints);
                    evaluator.evaluate(sample);
                    say(String.format("evaluated %d of %d versions after the run (%.0f s)", sample.size(), s.versions().size() - 1,
                            (System.nanoTime() - t0) / 1e9));
                    runs.add(new Run(setup.name(), seed, v0.heldOutReward(), evaluator.apply(s.versions()), s));
                    BenchmarkReport.writeCurves(out.resolve("curves.csv"), runs);
                }
                v0Files.close();
            }
            List<String> names = new ArrayList<>(setups.stream().map(Setup::name).toList());
            ablations.stream().map(Setup::name).filter(n -> !names.contains(n)).forEach(names::add);
            BenchmarkReport.write(out, runs, names, targetFraction, budget);
        }
        if (!opts.containsKey("skip-pipeline")) {
            pipelineTax(out, seeds[0], parseDuration(opts.getOrDefault("pipeline-budget", "60s")), passThrough);
        }
    }

    /**
     * The same work twice, one after the other: OPTune (rho 0.5) through the embedded topology
     * (RocksDB, checkpoints every 2 s, exactly-once feedback) and through the plain Java loop
     * ({@code OfflineOptuneLoop}: one thread, same engine, same SFT policy, same batch and sampling
     * settings). Evaluation is off in both so only the loop's own work is timed.
     */
    static void pipelineTax(Path out, long seed, Duration budget, List<String> passThrough) throws Exception {
        LoopConfig loop = LoopConfig.defaults().with("seed", String.valueOf(seed)).with("timeBudget", budget.toSeconds() + "s")
                .with("evalEvery", "1000000").with("heldOutSize", "16");
        // The plain loop runs generation and training one after the other, so it gets the engine's
        // whole thread pool (2 threads, its best setting); it is also measured with 1 for reference.
        say("=== pipeline tax: plain Java loop, 2 engine threads, " + budget.toSeconds() + " s ===");
        EmbeddedMain.setEngineThreads(2);
        LoopReport plain = OfflineLoopMain.run(loop);
        say("=== pipeline tax: plain Java loop, 1 engine thread, " + budget.toSeconds() + " s ===");
        EmbeddedMain.setEngineThreads(1);
        LoopReport plain1 = OfflineLoopMain.run(loop);
        EmbeddedMain.setEngineThreads(2);
        double plainPairsPerSecond = plainPairs(plain) / plain.dpoSeconds();
        double plainPromptsPerSecond = plain.promptsSeen() / plain.dpoSeconds();

        say("=== pipeline tax: Flink topology, " + budget.toSeconds() + " s ===");
        Path runDir = out.resolve("pipeline").resolve("topology");
        EmbeddedMain.deleteRecursively(runDir);
        EmbeddedMain.Summary s = EmbeddedMain.run(config(runDir, seed, budget, passThrough,
                "--optune.select.strategy", "OPTUNE", "--optune.select.rho", "0.5", "--optune.pairs.weighting", "EXP",
                "--optune.train.held-out-size", "0"));
        // The last progress sample is taken when the budget ends, before the stop with savepoint.
        EmbeddedMain.Progress end = s.timeline().get(s.timeline().size() - 1);
        double seconds = end.seconds();
        double topoPairsPerSecond = end.pairsTrained() / seconds;
        double topoPromptsPerSecond = end.promptsIn() / seconds;
        double topoRegenerated = (double) end.promptsRegenerated() / Math.max(1, end.promptsRegenerated() + end.promptsReused());
        String csv = "implementation,seconds,prompts,prompts_per_s,pairs_trained_per_s,regenerated_fraction,generated_tokens\n"
                + String.format(Locale.ROOT, "plain-java-loop,%.1f,%d,%.1f,%.1f,%.3f,%d%n", plain.dpoSeconds(), plain.promptsSeen(),
                        plainPromptsPerSecond, plainPairsPerSecond, plain.regeneratedFraction(), plain.generatedTokens())
                + String.format(Locale.ROOT, "plain-java-loop-1-thread,%.1f,%d,%.1f,%.1f,%.3f,%d%n", plain1.dpoSeconds(),
                        plain1.promptsSeen(), plain1.promptsSeen() / plain1.dpoSeconds(), plainPairs(plain1) / plain1.dpoSeconds(),
                        plain1.regeneratedFraction(), plain1.generatedTokens())
                + String.format(Locale.ROOT, "flink-topology,%.1f,%d,%.1f,%.1f,%.3f,%d%n", seconds, end.promptsIn(),
                        topoPromptsPerSecond, topoPairsPerSecond, topoRegenerated, end.generatedTokens())
                + String.format(Locale.ROOT, "# ratio topology/plain: prompts per second %.3f, pairs trained per second %.3f; "
                                + "weight sync lag p50 %d ms, p90 %d ms, max %d ms%n",
                        topoPromptsPerSecond / plainPromptsPerSecond, topoPairsPerSecond / plainPairsPerSecond,
                        s.weightSyncLagMsP50(), s.weightSyncLagMsP90(), s.weightSyncLagMsMax());
        Files.writeString(out.resolve("pipeline.csv"), csv);
        say(csv);
    }

    private static List<Setup> setups(String names) {
        return Arrays.stream(names.split(",")).map(n -> {
            Setup s = SETUPS.get(n);
            if (s == null) {
                throw new IllegalArgumentException("unknown configuration '" + n + "'; known: " + SETUPS.keySet());
            }
            return s;
        }).toList();
    }

    private static int total(long[] seeds, List<Setup> setups, List<Setup> ablations) {
        return seeds.length * setups.size() + (int) ablations.stream().filter(a -> !setups.contains(a)).count();
    }

    /**
     * At most {@code points} versions after version 0, evenly spread, always with the last {@link
     * BenchmarkReport#FINAL_POINTS} (the final reward is their mean).
     */
    static List<PolicyUpdate> evaluationSample(List<PolicyUpdate> versions, int points) {
        List<PolicyUpdate> trained = versions.stream().filter(v -> v.version() > 0).toList();
        java.util.TreeMap<Long, PolicyUpdate> chosen = new java.util.TreeMap<>();
        int n = trained.size();
        for (int i = Math.max(0, n - BenchmarkReport.FINAL_POINTS); i < n; i++) {
            chosen.put(trained.get(i).version(), trained.get(i));
        }
        int rest = Math.max(0, points - chosen.size());
        for (int k = 1; k <= rest && n > 0; k++) {
            int index = Math.max(0, (int) Math.round((double) k * n / (rest + 1)) - 1);
            chosen.put(trained.get(index).version(), trained.get(index));
        }
        return new ArrayList<>(chosen.values());
    }

    /** Pairs the plain loop trained: it trains full batches only. */
    private static double plainPairs(LoopReport r) {
        return r.steps() * (double) LoopConfig.defaults().batchSize();
    }

    static Configuration config(Path runDir, long seed, Duration budget, List<String> passThrough, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("--conf", JobConfig.DEFAULT_FILE,
                "--optune.embedded.run-dir", runDir.toString(),
                "--optune.seed", String.valueOf(seed),
                "--optune.embedded.duration", budget.toSeconds() + "s",
                "--optune.embedded.progress-interval", "5s",
                // A feed faster than any configuration can train on: the runs are compute-bound, as
                // the paper's are, so the time a configuration saves shows up as more training.
                "--optune.source.builtin.prompts-per-second", "2000",
                // The pool docs/BENCHMARKS.md was measured with (the demo's default is larger since).
                "--optune.source.builtin.pool-size", "512"));
        args.addAll(passThrough);
        args.addAll(List.of(extra));
        return JobConfig.load(args.toArray(new String[0]));
    }

    static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static Duration parseDuration(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        if (t.endsWith("min")) {
            return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 3)));
        }
        if (t.endsWith("m")) {
            return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
        }
        if (t.endsWith("s")) {
            return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)));
        }
        return Duration.ofSeconds(Long.parseLong(t));
    }

    static void say(String line) {
        System.out.println(line);
    }
}
