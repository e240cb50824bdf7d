package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.Json;
import io.optune.operators.generate.GenerateOperator;
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
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * The one-command embedded run: SFT warm start, then the OPTune topology on a local mini cluster
 * (RocksDB, checkpoints) for {@code optune.embedded.duration}, progress every
 * {@code optune.embedded.progress-interval}, a stop with savepoint, and a summary (also as JSON).
 */
public final class EmbeddedMain {
    private EmbeddedMain() {}

    /** What an embedded run achieved. */
    public record Summary(
            double sftHeldOutReward,
            double finalHeldOutReward,
            long versionsEmitted,
            long finalVersion,
            long trainerSteps,
            long promptsIn,
            long promptsRegenerated,
            long promptsReused,
            double regeneratedFraction,
            long deadLetters,
            long generatorVersionLoads,
            double weightSyncLagMsMean,
            long weightSyncLagMsP50,
            long weightSyncLagMsP90,
            long weightSyncLagMsMax,
            long generatedTokens,
            long jobStartedAt,
            double minutes,
            String weightLog,
            String savepoint,
            String checkpoint,
            List<PolicyUpdate> versions,
            List<Progress> timeline) {}

    /** A progress sample: job-wide totals {@code seconds} after the job started. */
    public record Progress(double seconds, long promptsIn, long promptsRegenerated, long promptsReused, long generatedTokens,
            long pairsTrained) {

        static Progress of(Map<String, Object> acc, long jobStartedAt) {
            return new Progress((System.currentTimeMillis() - jobStartedAt) / 1e3, longAcc(acc, IngestFunction.ACC_PROMPTS_IN),
                    longAcc(acc, SelectFunction.ACC_REGENERATED), longAcc(acc, SelectFunction.ACC_REUSED),
                    longAcc(acc, GenerateOperator.ACC_TOKENS), longAcc(acc, TrainFunction.ACC_PAIRS_TRAINED));
        }
    }

    public static void main(String[] args) throws Exception {
        if (JobConfig.printHelpIfAsked(args, JobConfig.Entry.EMBEDDED, System.out)) {
            return;
        }
        Summary s = run(JobConfig.load(args));
        System.out.printf("%nSummary: held-out gold reward %.3f -> %.3f (%+.3f) in %.1f min | %d policy versions (last v%d, step %d) "
                        + "| prompts %d: regenerated %d, reused %d (%.0f%% regenerated) | dead letters %d | weight sync lag p50 %d ms, p90 %d ms, max %d ms%n",
                s.sftHeldOutReward(), s.finalHeldOutReward(), s.finalHeldOutReward() - s.sftHeldOutReward(), s.minutes(),
                s.versionsEmitted(), s.finalVersion(), s.trainerSteps(), s.promptsIn(), s.promptsRegenerated(), s.promptsReused(),
                100 * s.regeneratedFraction(), s.deadLetters(), s.weightSyncLagMsP50(), s.weightSyncLagMsP90(), s.weightSyncLagMsMax());
    }

    public static Summary run(Configuration conf) throws Exception {
        return run(conf, UnaryOperator.identity());
    }

    /** As {@link #run(Configuration)}, with a hook to wrap the job's connections (tests inject faults). */
    public static Summary run(Configuration conf, UnaryOperator<Connections> connections) throws Exception {
        long t0 = System.nanoTime();
        Connections.preflight(conf);
        Path runDir = Path.of(conf.get(OptuneOptions.RUN_DIR)).toAbsolutePath();
        if (conf.getOptional(org.apache.flink.configuration.StateRecoveryOptions.SAVEPOINT_PATH).isEmpty()) {
            deleteRecursively(runDir); // each embedded run starts from scratch in its run directory...
        } // ...unless it resumes from state, which may live there (a retained checkpoint of the last run)
        Files.createDirectories(runDir);
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

        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(weightsPath)
                .optRetainVersions(conf.get(OptuneOptions.WEIGHTS_RETAIN)).build();
        log.initialize();
        restoreEngineThreads(); // the warm start gets the engine's default pool, even after an earlier run
        PolicyUpdate v0 = InitialPolicy.ensure(conf, log, EmbeddedMain::say);
        setEngineThreads(conf.get(OptuneOptions.ENGINE_THREADS));

        Configuration flink = new Configuration(conf);
        if (!flink.containsKey("execution.checkpointing.dir")) {
            flink.setString("execution.checkpointing.dir", runDir.resolve("checkpoints").toUri().toString());
        }
        if (!flink.containsKey("execution.checkpointing.savepoint-dir")) {
            flink.setString("execution.checkpointing.savepoint-dir", runDir.resolve("savepoints").toUri().toString());
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(flink);
        OptuneTopology.build(conf, connections.apply(Connections.fileSystem(env, conf, log, feedback, deadLetters)));
        JobClient job = env.executeAsync("optune-embedded");
        long jobStartedAt = System.currentTimeMillis();
        List<Progress> timeline = new java.util.ArrayList<>();
        say("job " + job.getJobID() + " started; state backend " + flink.getString("state.backend.type", "default")
                + ", checkpoints every " + flink.getString("execution.checkpointing.interval", "(off)") + "; running for "
                + conf.get(OptuneOptions.DURATION));

        long end = System.nanoTime() + conf.get(OptuneOptions.DURATION).toNanos();
        long every = conf.get(OptuneOptions.PROGRESS_INTERVAL).toMillis();
        while (System.nanoTime() < end) {
            Thread.sleep(Math.max(1, Math.min(every, (end - System.nanoTime()) / 1_000_000)));
            if (job.getJobStatus().get().isGloballyTerminalState()) {
                break;
            }
            progress(job, log, t0, jobStartedAt, timeline);
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
                try {
                    savepoint = job.stopWithSavepoint(false, null, SavepointFormatType.CANONICAL).get(5, java.util.concurrent.TimeUnit.MINUTES);
                } catch (java.util.concurrent.TimeoutException e) {
                    job.cancel().get();
                    throw new IllegalStateException("the job did not stop with a savepoint within 5 minutes; cancelled it", e);
                }
                say("stopped with savepoint " + savepoint);
            }
            JobExecutionResult result = job.getJobExecutionResult().get();
            acc = result.getAllAccumulatorResults();
        }
        List<PolicyUpdate> versions = log.versions();
        PolicyUpdate last = versions.get(versions.size() - 1);
        long regenerated = longAcc(acc, SelectFunction.ACC_REGENERATED);
        long reused = longAcc(acc, SelectFunction.ACC_REUSED);
        Object lagMean = acc.get(GenerateOperator.ACC_LAG_MEAN);
        long[] lags = acc.get(GenerateOperator.ACC_LAG_SAMPLES) instanceof List<?> l
                ? l.stream().mapToLong(x -> ((Number) x).longValue()).sorted().toArray() : new long[0];
        Summary summary = new Summary(v0.heldOutReward(), last.heldOutReward(), versions.size() - 1L, last.version(), last.step(),
                longAcc(acc, IngestFunction.ACC_PROMPTS_IN), regenerated, reused,
                regenerated + reused == 0 ? 0 : (double) regenerated / (regenerated + reused),
                longAcc(acc, IngestFunction.ACC_DEAD_LETTERS),
                longAcc(acc, GenerateOperator.ACC_VERSIONS_LOADED),
                lagMean instanceof Number ? ((Number) lagMean).doubleValue() : Double.NaN,
                percentile(lags, 0.5), percentile(lags, 0.9),
                longAcc(acc, GenerateOperator.ACC_LAG_MAX), longAcc(acc, GenerateOperator.ACC_TOKENS), jobStartedAt,
                (System.nanoTime() - t0) / 6e10, weightsPath, savepoint, checkpoint, versions, timeline);
        Files.createDirectories(summaryPath.toAbsolutePath().getParent());
        Files.writeString(summaryPath, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(summary));
        say("summary written to " + summaryPath.toAbsolutePath());
        return summary;
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
    public static java.util.Optional<Path> latestCheckpoint(Path jobCheckpointDir) throws IOException {
        if (!Files.isDirectory(jobCheckpointDir)) {
            return java.util.Optional.empty();
        }
        try (Stream<Path> paths = Files.walk(jobCheckpointDir, 1)) {
            return paths.filter(p -> p.getFileName().toString().matches("chk-\\d+") && Files.exists(p.resolve("_metadata")))
                    .max(Comparator.comparingLong((Path p) -> Long.parseLong(p.getFileName().toString().substring(4)))
                            .thenComparing(p -> p.toFile().lastModified()));
        }
    }

    /** Nearest-rank percentile of sorted samples; -1 when there are none. */
    static long percentile(long[] sorted, double q) {
        return sorted.length == 0 ? -1 : sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }

    private static void progress(JobClient job, FileSystemWeightLog log, long t0, long jobStartedAt, List<Progress> timeline) {
        try {
            Map<String, Object> acc = job.getAccumulators().get();
            long regenerated = longAcc(acc, SelectFunction.ACC_REGENERATED);
            long reused = longAcc(acc, SelectFunction.ACC_REUSED);
            timeline.add(Progress.of(acc, jobStartedAt));
            String line = String.format("[%5.0fs] prompts %d (regenerated %.0f%%)", (System.nanoTime() - t0) / 1e9,
                    regenerated + reused, regenerated + reused == 0 ? 0.0 : 100.0 * regenerated / (regenerated + reused));
            var latest = log.latest();
            if (latest.isPresent()) {
                PolicyUpdate u = latest.get();
                line += String.format(" | policy v%d step %d | loss %.3f margin %.2f kl %.2f | pair reward %.3f fresh %.0f%% | held-out gold %.3f",
                        u.version(), u.step(), u.loss(), u.margin(), u.kl(), u.reward(), 100 * u.freshFraction(), u.heldOutReward());
            }
            say(line);
        } catch (Exception e) {
            say("(progress unavailable: " + e.getMessage() + ")");
        }
    }

    private static long longAcc(Map<String, Object> acc, String name) {
        Object v = acc.get(name);
        return v instanceof Number ? ((Number) v).longValue() : 0L;
    }

    private static void say(String line) {
        System.out.println(line);
    }

    /** Deletes a directory tree (no-op when absent). */
    public static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        }
    }
}
