package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.Json;
import io.optune.operators.generate.GeneratorMetrics;
import io.optune.operators.ingest.IngestFunction;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.select.SelectFunction;
import io.optune.operators.train.TrainFunction;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * The one-command embedded run: SFT warm start, then the OPTune topology on a local mini cluster
 * (RocksDB, checkpoints, Flink's web dashboard) for {@code optune.embedded.duration}, progress every
 * {@code optune.embedded.progress-interval}, a stop with savepoint, and a summary (also as JSON and plots).
 * Each run has a directory of its own ({@link RunDirectory}); {@code --resume [RUN_DIR]} continues one.
 */
public final class EmbeddedMain {
    private EmbeddedMain() {}

    /**
     * What an embedded run achieved. Values that were not measured are null, not NaN or a sentinel.
     *
     * @param resumedFrom the checkpoint or savepoint this run started from (null for a new run)
     * @param baselineVersion the policy version the run started from (0, the SFT warm start, for a new run)
     * @param baselineHeldOutReward held-out gold reward of that version
     * @param sftHeldOutReward held-out gold reward of version 0 (the SFT warm start), when in the weight log
     * @param bestVersion the version with the highest held-out reward of all in the weight log
     * @param versionsEmitted versions published by this run
     * @param versionsTotal versions published since version 0, this run and earlier ones of the same weight log
     * @param deadLetters committed dead letters of this run, from every step
     * @param deadLettersByReason of those, "stage/reason" to count
     * @param deadLettersTotal committed dead letters in the directory, earlier jobs of a resumed run included
     */
    public record Summary(
            String runDir,
            String resumedFrom,
            long baselineVersion,
            Double baselineHeldOutReward,
            Double sftHeldOutReward,
            Double finalHeldOutReward,
            long finalVersion,
            Double bestHeldOutReward,
            Long bestVersion,
            long versionsEmitted,
            long versionsTotal,
            long trainerSteps,
            long promptsIn,
            long promptsRegenerated,
            long promptsReused,
            double regeneratedFraction,
            long deadLetters,
            Map<String, Long> deadLettersByReason,
            long deadLettersTotal,
            long generatorVersionLoads,
            Double weightSyncLagMsMean,
            Long weightSyncLagMsP50,
            Long weightSyncLagMsP90,
            Long weightSyncLagMsMax,
            long generatedTokens,
            long jobStartedAt,
            double minutes,
            String weightLog,
            String savepoint,
            String checkpoint,
            String dashboard,
            List<PolicyUpdate> versions,
            List<Progress> timeline,
            long promptsSkippedInFlight) {}

    /**
     * A progress sample: job-wide totals {@code seconds} after the job started.
     *
     * @param lagSamples weight-sync lag samples so far
     * @param weightSyncLagMs mean lag of the version loads since the previous sample (null when none)
     * @param generatorBusyUs microseconds the generators spent sampling (all subtasks; waits excluded)
     * @param trainerBusyUs microseconds the trainer spent in DPO steps (waits excluded)
     * @param generatorBatches micro-batches the generators sampled
     */
    public record Progress(double seconds, long promptsIn, long promptsRegenerated, long promptsReused, long generatedTokens,
            long pairsTrained, int lagSamples, Double weightSyncLagMs, long generatorBusyUs, long trainerBusyUs,
            long generatorBatches) {

        static Progress of(Map<String, Object> acc, long jobStartedAt, Progress previous) {
            List<?> lags = acc.get(GeneratorMetrics.ACC_LAG_SAMPLES) instanceof List<?> l ? l : List.of();
            int from = previous == null ? 0 : Math.min(previous.lagSamples(), lags.size());
            Double lag = lags.size() > from
                    ? lags.subList(from, lags.size()).stream().mapToDouble(x -> ((Number) x).doubleValue()).average().orElse(0) : null;
            return new Progress((System.currentTimeMillis() - jobStartedAt) / 1e3, longAcc(acc, IngestFunction.ACC_PROMPTS_IN),
                    longAcc(acc, SelectFunction.ACC_REGENERATED), longAcc(acc, SelectFunction.ACC_REUSED),
                    longAcc(acc, GeneratorMetrics.ACC_TOKENS), longAcc(acc, TrainFunction.ACC_PAIRS_TRAINED), lags.size(), lag,
                    longAcc(acc, GeneratorMetrics.ACC_BUSY_US), longAcc(acc, TrainFunction.ACC_BUSY_US),
                    longAcc(acc, GeneratorMetrics.ACC_BATCHES));
        }
    }

    public static void main(String[] args) throws Exception {
        if (JobConfig.printHelpIfAsked(args, JobConfig.Entry.EMBEDDED, System.out)) {
            return;
        }
        String[] expanded = ResumeFlag.expand(args);
        Configuration conf;
        try {
            conf = JobConfig.load(expanded);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
            return;
        }
        try {
            Summary s = run(conf, UnaryOperator.identity(), ResumeFlag.displayArgs(args));
            System.out.println();
            System.out.println(SummaryReport.format(s));
        } catch (Exception e) {
            // run() has said what to do next (the resume command); keep the console free of a stack trace
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
        System.exit(0); // Flink's non-daemon threads may linger after the mini cluster is closed
    }

    public static Summary run(Configuration conf) throws Exception {
        return run(conf, UnaryOperator.identity());
    }

    /** As {@link #run(Configuration)}, with a hook to wrap the job's connections (tests inject faults). */
    public static Summary run(Configuration conf, UnaryOperator<Connections> connections) throws Exception {
        return run(conf, connections, List.of());
    }

    /**
     * Runs one embedded job; {@code args} are the command-line arguments as given, for the resume
     * command printed when the run ends abnormally.
     */
    static Summary run(Configuration given, UnaryOperator<Connections> connections, List<String> args) throws Exception {
        long t0 = System.nanoTime();
        Connections.preflight(given);
        if (given.getOptional(OptuneOptions.RESUME).isEmpty()) {
            for (Path unfinished : RunDirectory.unfinished(Path.of(given.get(OptuneOptions.RUNS_DIR)).toAbsolutePath())) {
                say("found an unfinished run in " + unfinished + "; to continue it instead, run: "
                        + ResumeFlag.command(args, unfinished));
            }
        }
        RunDirectory.Prepared prepared = RunDirectory.prepare(given, LocalDateTime.now());
        Configuration conf = prepared.conf();
        RunDirectory run = prepared.run();
        Path runDir = run.path();
        Path logFile = RunLogging.attach(runDir);
        say("run directory " + runDir + (logFile == null ? "" : " (full log: " + runDir.relativize(logFile) + ")"));
        prepared.resumePoint().ifPresent(p -> say("resuming from " + (p.savepoint() ? "savepoint " : "retained checkpoint ") + p.path()));

        RunDirectory.State state = new RunDirectory.State(RunDirectory.Status.RUNNING, ProcessHandle.current().pid(),
                System.currentTimeMillis(), 0, args, new ArrayList<>(), null);
        run.writeState(state);
        String resumeCommand = ResumeFlag.command(args, runDir);
        // Ctrl-C or a kill: say how to continue (a kill -9 is caught at the next start instead).
        Thread hook = new Thread(() -> {
            try {
                if (RunDirectory.readState(runDir).map(s -> s.status() == RunDirectory.Status.RUNNING).orElse(false)) {
                    run.writeState(state.with(RunDirectory.Status.FAILED, "interrupted"));
                    System.out.println(RunDirectory.newestResumePoint(runDir).isPresent()
                            ? "interrupted; to continue this run from its newest checkpoint: " + resumeCommand
                            : "interrupted before the first checkpoint; nothing to resume (the run directory is kept: " + runDir + ")");
                }
            } catch (IOException ignored) {
                // exiting anyway
            }
        }, "optune-interrupt");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            Summary s = runJob(conf, connections, run, prepared.resumePoint(), state, t0);
            boolean cancelled = s.savepoint() == null;
            run.writeState(state.with(cancelled ? RunDirectory.Status.CANCELLED : RunDirectory.Status.FINISHED, null));
            if (cancelled) {
                say(RunDirectory.newestResumePoint(runDir).isPresent()
                        ? "to continue this run from its newest checkpoint: " + resumeCommand
                        : "no checkpoint was completed before the cancellation: nothing to resume");
            }
            return s;
        } catch (Exception e) {
            run.writeState(state.with(RunDirectory.Status.FAILED, String.valueOf(e.getMessage())));
            boolean resumable = RunDirectory.newestResumePoint(runDir).isPresent();
            say("the run ended abnormally: " + e.getMessage());
            say(resumable ? "to continue it from its newest checkpoint: " + resumeCommand
                    : "it left no checkpoint to resume from; its directory is kept: " + runDir);
            throw e;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs
            }
        }
    }

    private static Summary runJob(Configuration conf, UnaryOperator<Connections> connections, RunDirectory run,
            Optional<RunDirectory.ResumePoint> resumePoint, RunDirectory.State state, long t0) throws Exception {
        Path runDir = run.path();
        String weightsPath = conf.getOptional(OptuneOptions.WEIGHTS_PATH).orElse(runDir.resolve("weights").toUri().toString());
        String feedback = conf.getOptional(OptuneOptions.FEEDBACK_PATH).orElse(runDir.resolve("feedback").toUri().toString());
        String deadLetters = conf.getOptional(OptuneOptions.DEAD_LETTER_PATH).orElse(runDir.resolve("dead-letters").toUri().toString());
        Path summaryPath = Path.of(conf.getOptional(OptuneOptions.SUMMARY_PATH).orElse(runDir.resolve("summary.json").toString()));
        // The feedback source lists its directory from the first poll on: it must exist.
        org.apache.flink.core.fs.Path feedbackDir = new org.apache.flink.core.fs.Path(feedback);
        feedbackDir.getFileSystem().mkdirs(feedbackDir);
        if (!conf.contains(OptuneOptions.LEDGER_PATH)) {
            conf = new Configuration(conf);
            conf.set(OptuneOptions.LEDGER_PATH, runDir.resolve("ledger").toUri().toString());
        }
        if (!conf.contains(OptuneOptions.DEAD_LETTER_PATH)) { // the topology's retention sweep needs it by name
            conf = new Configuration(conf);
            conf.setString(OptuneOptions.DEAD_LETTER_PATH.key(), deadLetters);
        }

        // Signed versions here too; a throw-away key pair beside the run directories serves every embedded run.
        FileSystemWeightLog log = PolicySigning.weightLog(conf, conf.toMap(), weightsPath,
                runDir.toAbsolutePath().getParent().resolve("keys"));
        log.initialize();
        restoreEngineThreads(); // the warm start gets the engine's default pool, even after an earlier run
        PolicyUpdate baseline = InitialPolicy.ensure(conf, log, EmbeddedMain::say);
        setEngineThreads(conf.get(OptuneOptions.ENGINE_THREADS));
        // The job's evaluate step reports held-out rewards; they are kept in the run directory.
        io.optune.operators.evaluate.HeldOutEvaluation evaluation = HeldOutEvaluator.evaluation(conf, log);
        HeldOutEvaluator evaluator = evaluation == null ? null : new HeldOutEvaluator(evaluation, runDir.resolve(HELD_OUT_FILE));
        if (evaluator != null) {
            // The version a resumed run starts from, evaluated now if the run before never reported it (it was
            // killed first): by the end of this run retention may have pruned it, and the summary compares with it.
            baseline = evaluator.evaluate(List.of(baseline)).get(0);
        }

        Configuration flink = new Configuration(conf);
        if (!flink.containsKey("execution.checkpointing.dir")) {
            flink.setString("execution.checkpointing.dir", runDir.resolve("checkpoints").toUri().toString());
        }
        if (!flink.containsKey("execution.checkpointing.savepoint-dir")) {
            flink.setString("execution.checkpointing.savepoint-dir", runDir.resolve("savepoints").toUri().toString());
        }
        if (!flink.containsKey("security.delegation.tokens.enabled")) {
            flink.setString("security.delegation.tokens.enabled", "false"); // no Kerberos here: spares its start-up warnings
        }
        String dashboard = Dashboard.configure(flink, conf.get(OptuneOptions.DASHBOARD_PORT), EmbeddedMain::say);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(flink);
        OptuneTopology.build(conf, connections.apply(Connections.fileSystem(env, conf, log, feedback, deadLetters)));
        JobClient job = env.executeAsync("optune-embedded");
        long jobStartedAt = System.currentTimeMillis();
        state.jobIds().add(job.getJobID().toString());
        run.writeState(state);
        List<Progress> timeline = new ArrayList<>();
        say("job " + job.getJobID() + " started; dashboard " + dashboard + "; checkpoints every "
                + flink.getString("execution.checkpointing.interval", "(off)") + " in " + runDir.relativize(localPath(
                        flink.getString("execution.checkpointing.dir", "")).resolve(job.getJobID().toString())) + "; running for "
                + conf.get(OptuneOptions.DURATION));

        CheckpointWatch checkpoints = new CheckpointWatch(
                localPath(flink.getString("execution.checkpointing.dir", "")).resolve(job.getJobID().toString()),
                flink.get(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(2)),
                flink.get(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTING_TIMEOUT), jobStartedAt);
        long end = System.nanoTime() + conf.get(OptuneOptions.DURATION).toNanos();
        long every = conf.get(OptuneOptions.PROGRESS_INTERVAL).toMillis();
        // A bounded feed ends the run once the ledger accounts for it, rather than at the duration.
        String ledgerPath = conf.get(OptuneOptions.LEDGER_PATH);
        String scheme = java.net.URI.create(ledgerPath).getScheme();
        boolean localLedger = scheme == null || scheme.equals("file"); // the driver reads it from this machine
        FeedLedger fed = conf.get(OptuneOptions.SOURCE_TYPE) == OptuneOptions.SourceType.BUILTIN && localLedger
                ? conf.getOptional(OptuneOptions.BUILTIN_COUNT).map(n -> new FeedLedger(localPath(ledgerPath), n)).orElse(null)
                : null;
        long nextProgress = System.nanoTime() + every * 1_000_000L;
        while (System.nanoTime() < end) {
            long due = Math.min(end, fed == null ? nextProgress : Math.min(nextProgress, System.nanoTime() + 1_000_000_000L));
            Thread.sleep(Math.max(1, (due - System.nanoTime()) / 1_000_000));
            if (job.getJobStatus().get().isGloballyTerminalState()) {
                break;
            }
            if (fed != null && fed.accountedFor()) {
                say("the feed's " + fed.expected() + " arrivals are all accounted for in the ledger; stopping before the duration");
                break;
            }
            if (System.nanoTime() < nextProgress) {
                continue;
            }
            nextProgress = System.nanoTime() + every * 1_000_000L;
            progress(job, log, evaluator, t0, jobStartedAt, baseline, deadLetters, runDir, timeline);
            checkpoints.overdue(System.currentTimeMillis()).ifPresent(w -> {
                System.out.println(w);
                LOG.warn(w);
            });
        }
        String savepoint = null;
        String checkpoint = null;
        Map<String, Object> acc;
        if (conf.get(OptuneOptions.STOP_MODE) == OptuneOptions.StopMode.CANCEL) {
            acc = job.getJobStatus().get().isGloballyTerminalState() ? Map.of() : job.getAccumulators().get();
            job.cancel().get();
            waitUntilTerminal(job);
            checkpoint = latestCheckpoint(localPath(flink.getString("execution.checkpointing.dir", "")).resolve(job.getJobID().toString()))
                    .map(Path::toString).orElse(null);
            say("cancelled; newest retained checkpoint " + checkpoint);
        } else {
            if (!job.getJobStatus().get().isGloballyTerminalState()) {
                savepoint = stopWithSavepoint(job);
                say("stopped with savepoint " + savepoint);
            }
            JobExecutionResult result = job.getJobExecutionResult().get();
            acc = result.getAllAccumulatorResults();
            if (resumePoint.isPresent() && savepoint != null) {
                int removed = RunDirectory.removeSupersededInProgress(localSinkDirs(conf, feedback, deadLetters), jobStartedAt);
                if (removed > 0) {
                    say("removed " + removed + " in-progress part file(s) that the interrupted job had left uncommitted "
                            + "(their records were replayed from the checkpoint)");
                }
            }
        }
        List<PolicyUpdate> history = log.history();
        PolicyUpdate start = baseline;
        if (evaluator != null) {
            evaluator.record(acc.get(io.optune.operators.evaluate.EvaluateOperator.ACC_HELD_OUT), history);
            // The summary compares the version this run started from with its last one: both need a reward
            // (the evaluate step may have skipped them; evaluated ones are not evaluated again).
            List<PolicyUpdate> ends = new ArrayList<>(List.of(baseline));
            if (!history.isEmpty()) {
                ends.add(history.get(history.size() - 1));
            }
            start = evaluator.evaluate(ends).get(0);
            history = evaluator.apply(history);
        }
        Summary summary = SummaryReport.summarize(SummaryReport.Inputs.builder()
                .runDir(runDir).resumePoint(resumePoint.orElse(null)).baseline(start).versions(history)
                .accumulators(acc).deadLetters(DeadLetterCounts.count(deadLetters, jobStartedAt))
                .jobStartedAt(jobStartedAt).minutes((System.nanoTime() - t0) / 6e10).weightLog(weightsPath)
                .savepoint(savepoint).checkpoint(checkpoint).dashboard(dashboard).timeline(timeline).build());
        Files.createDirectories(summaryPath.toAbsolutePath().getParent());
        if (Files.exists(summaryPath)) {
            // a resumed run keeps the earlier job's summary beside its own
            Files.move(summaryPath, summaryPath.resolveSibling("summary-" + Files.getLastModifiedTime(summaryPath).toMillis() + ".json"));
        }
        Files.writeString(summaryPath, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(summary));
        say("summary written to " + summaryPath.toAbsolutePath());
        RunPlots.write(summary, runDir, EmbeddedMain::say);
        return summary;
    }

    /**
     * Stops the job with a savepoint within 5 minutes. A job whose tasks are still starting (a slow
     * restore on a busy machine) refuses the savepoint; it is asked again until they run.
     */
    private static String stopWithSavepoint(JobClient job) throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(5);
        while (true) {
            try {
                return job.stopWithSavepoint(false, null, SavepointFormatType.CANONICAL)
                        .get(Math.max(1, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                job.cancel().get();
                throw new IllegalStateException("the job did not stop with a savepoint within 5 minutes; cancelled it", e);
            } catch (java.util.concurrent.ExecutionException e) {
                boolean starting = org.apache.flink.util.ExceptionUtils.findThrowable(e,
                        org.apache.flink.runtime.checkpoint.CheckpointException.class)
                        .map(c -> c.getCheckpointFailureReason()
                                == org.apache.flink.runtime.checkpoint.CheckpointFailureReason.NOT_ALL_REQUIRED_TASKS_RUNNING)
                        .orElse(false);
                if (!starting || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(1000);
            }
        }
    }

    /** The run's file-sink directories on local disk (where left-over in-progress files may lie). */
    private static List<Path> localSinkDirs(Configuration conf, String feedback, String deadLetters) {
        List<Path> out = new ArrayList<>();
        for (String p : new String[] {feedback, deadLetters, conf.get(OptuneOptions.LEDGER_PATH),
            conf.getOptional(OptuneOptions.PAIRS_AUDIT_PATH).orElse(null)}) {
            if (p != null && (p.startsWith("file:") || !p.contains("://"))) {
                out.add(localPath(p));
            }
        }
        return out;
    }

    private static int defaultEngineThreads;

    /** Sets PyTorch's (process-wide) intra-op thread count; 0 leaves it alone. */
    public static synchronized void setEngineThreads(int threads) {
        if (threads > 0) {
            ai.djl.engine.Engine.getEngine("PyTorch"); // loads the natives if nothing has yet
            if (defaultEngineThreads == 0) {
                defaultEngineThreads = ai.djl.pytorch.jni.JniUtils.getNumThreads();
            }
            ai.djl.pytorch.jni.JniUtils.setNumThreads(threads);
        }
    }

    /** Puts back the thread count the engine had before {@link #setEngineThreads} changed it. */
    static synchronized void restoreEngineThreads() {
        if (defaultEngineThreads > 0) {
            ai.djl.pytorch.jni.JniUtils.setNumThreads(defaultEngineThreads);
        }
    }

    private static void waitUntilTerminal(JobClient job) throws Exception {
        try {
            job.getJobExecutionResult().get(60, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException expected) {
            // a cancelled job ends with a cancellation exception
        }
    }

    /** A local path from a path or file URI (the embedded run keeps its checkpoints on local disk). */
    static Path localPath(String pathOrUri) {
        java.net.URI uri = java.net.URI.create(pathOrUri);
        return uri.getScheme() == null ? Path.of(pathOrUri) : Path.of(uri);
    }

    /**
     * The newest complete retained checkpoint ({@code chk-<n>} with its metadata file) in one job's
     * checkpoint directory ({@code <execution.checkpointing.dir>/<job-id>}): what a new job resumes
     * from with {@code execution.state-recovery.path}, as Kubernetes' last-state upgrade does.
     */
    public static Optional<Path> latestCheckpoint(Path jobCheckpointDir) throws IOException {
        return RunDirectory.latestCheckpoint(jobCheckpointDir);
    }

    /** Nearest-rank percentile of sorted samples; null when there are none. */
    static Long percentile(long[] sorted, double q) {
        return sorted.length == 0 ? null : sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }

    /** Held-out rewards of the run's versions, one line per evaluated version, in the run directory. */
    public static final String HELD_OUT_FILE = "held-out.csv";

    private static void progress(JobClient job, FileSystemWeightLog log, HeldOutEvaluator evaluator, long t0, long jobStartedAt,
            PolicyUpdate baseline, String deadLetterDir, Path runDir, List<Progress> timeline) {
        try {
            Map<String, Object> acc = job.getAccumulators().get();
            long regenerated = longAcc(acc, SelectFunction.ACC_REGENERATED);
            long reused = longAcc(acc, SelectFunction.ACC_REUSED);
            timeline.add(Progress.of(acc, jobStartedAt, timeline.isEmpty() ? null : timeline.get(timeline.size() - 1)));
            List<PolicyUpdate> history = log.history(); // read once per tick: the console line and the plots share it
            if (evaluator != null) {
                evaluator.record(acc.get(io.optune.operators.evaluate.EvaluateOperator.ACC_HELD_OUT), history);
                history = evaluator.apply(history);
            }
            StringBuilder line = new StringBuilder(String.format("[%5.0fs] prompts %d (regenerated %.0f%%)", (System.nanoTime() - t0) / 1e9,
                    regenerated + reused, regenerated + reused == 0 ? 0.0 : 100.0 * regenerated / (regenerated + reused)));
            long inFlight = longAcc(acc, SelectFunction.ACC_IN_FLIGHT);
            if (inFlight > 0) { // arrivals of prompts being regenerated: skipped, outside the share
                line.append(String.format(" | skipped in flight %d", inFlight));
            }
            DeadLetterCounts dead = DeadLetterCounts.count(deadLetterDir, jobStartedAt);
            if (dead.since() > 0) {
                line.append(" | dead letters ").append(dead.since()).append(' ').append(dead.byReason());
            }
            if (!history.isEmpty() && history.get(history.size() - 1).version() > baseline.version()) {
                PolicyUpdate u = history.get(history.size() - 1);
                line.append(String.format(" | policy v%d step %d | loss %.3f margin %.2f log-ratio %.3f | pair reward %.3f fresh %.0f%%",
                        u.version(), u.step(), u.loss(), u.margin(), u.logRatioMean(), u.reward(), 100 * u.freshFraction()));
                for (int i = history.size() - 1; i >= 0 && history.get(i).version() > baseline.version(); i--) {
                    if (!Double.isNaN(history.get(i).heldOutReward())) {
                        line.append(String.format(" | held-out gold %.3f (v%d)", history.get(i).heldOutReward(), history.get(i).version()));
                        break;
                    }
                }
            } else {
                line.append(" | policy v").append(baseline.version()).append(": no new version yet");
                if (dead.byReason().getOrDefault("score/" + io.optune.operators.score.ScoreFunction.UNSCORABLE, 0L) > 0) {
                    line.append(" (prompts are being refused by the reward model: see the warning above)");
                }
            }
            say(line.toString());
            RunPlots.write(history, timeline, jobStartedAt, baseline.version(), runDir, EmbeddedMain::say, false);
        } catch (Exception e) {
            say("(progress unavailable: " + e.getMessage() + ")");
        }
    }

    static long longAcc(Map<String, Object> acc, String name) {
        Object v = acc.get(name);
        return v instanceof Number ? ((Number) v).longValue() : 0L;
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EmbeddedMain.class);

    /** A console line; also in the run's log file. */
    static void say(String line) {
        System.out.println(line);
        LOG.info(line);
    }

    /** Deletes a directory tree (no-op when absent). Only for directories a tool made itself, e.g. the benchmark's. */
    public static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        }
    }
}
