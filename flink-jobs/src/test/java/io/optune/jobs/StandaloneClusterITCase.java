package io.optune.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PromptOutcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The job on a real standalone Flink cluster, as a user runs it: a JobManager and two TaskManagers as
 * separate JVMs (Flink's lib/ assembled from Maven Central plus the job's flink-lib/), the shaded job
 * jar submitted with the Flink CLI and the shipped conf/optune.yaml, the generators at parallelism 2
 * (one slot per TaskManager, so one generator in each). Then: {@code kill -9} of a TaskManager and a
 * replacement; stop with a savepoint; the same jar resubmitted through the REST API
 * ({@code /jars/upload}, {@code /jars/<id>/run}, main runs in the JobManager) from that savepoint, on
 * TaskManagers that already ran the first job. Along the way it checks that the cluster's restart
 * strategy and checkpoint interval hold for the job, that every generator subtask loads the published
 * versions, and at the end that the prompt ledger accounts for every arrival exactly once and the
 * versions form one gap-free sequence across both jobs.
 *
 * <p>Needs the package phase (job jar, flink-lib/, flink-dist-lib): runs in failsafe's integration-test
 * phase. Every JVM's log stays under {@code target/standalone-cluster/<run>/logs}.
 */
class StandaloneClusterITCase {
    static final long SEED = 5;
    static final int FEED = 5000;
    /** Job A's feed rate: slow, so that most of the feed is left for job B whatever the machine's speed. */
    static final int RATE_A = 25;
    /** Job B's: a tuning change on resume, the rest of the feed as fast as the loop takes it. */
    static final int RATE_B = 200;
    static final Duration CLUSTER_CHECKPOINT_INTERVAL = Duration.ofSeconds(3);
    static final Pattern SUBMITTED = Pattern.compile("JobID ([0-9a-f]{32})");
    static final Pattern SAVEPOINT = Pattern.compile("Savepoint completed\\. Path: (\\S+)");
    static final Pattern GENERATOR_LOAD = Pattern.compile("Generator (\\d+) now uses policy version (\\d+)");

    @Test
    @Timeout(value = 7, unit = TimeUnit.MINUTES)
    void theJobRunsRecoversAndResumesOnAStandaloneCluster() throws Exception {
        Path root = Path.of(System.getProperty("optune.it.work-dir", "target/standalone-cluster"))
                .resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))).toAbsolutePath();
        Path store = root.resolve("store"); // stands for the durable storage every node reaches (s3://...)
        Path weights = store.resolve("weights");
        Path ledger = store.resolve("ledger");
        Path jar = Path.of(System.getProperty("optune.it.job-jar")).toAbsolutePath();
        Path options = Path.of("..", JobConfig.DEFAULT_FILE).toAbsolutePath();

        // The shipped cluster configuration, with local paths, short heartbeats (a lost TaskManager is
        // noticed in 5 s, not 50 s) and a 3 s checkpoint interval that differs from every default.
        Map<String, String> config = new TreeMap<>(JobConfig.readYaml(Path.of("..", "conf", "flink", "config.yaml")));
        config.keySet().removeIf(k -> k.startsWith("metrics.reporter.prom.")); // it binds every interface
        config.put("execution.checkpointing.interval", CLUSTER_CHECKPOINT_INTERVAL.toSeconds() + "s");
        config.put("execution.checkpointing.dir", store.resolve("checkpoints").toUri().toString());
        config.put("execution.checkpointing.savepoint-dir", store.resolve("savepoints").toUri().toString());
        config.put("heartbeat.interval", "1s");
        config.put("heartbeat.timeout", "5s");
        config.put("taskmanager.numberOfTaskSlots", "1");
        config.put("taskmanager.memory.process.size", "2g");
        config.put("taskmanager.memory.managed.fraction", "0.2");
        config.put("jobmanager.memory.process.size", "1g");
        config.put("io.tmp.dirs", root.resolve("tmp").toString());
        // The client's SFT warm start with one PyTorch thread: steadier on a busy 2-core CI machine.
        config.put("env.java.opts.client", config.get("env.java.opts.client") + " -Dai.djl.pytorch.num_threads=1");

        // Signed versions, as on a real cluster: the key pair stands for a mounted Secret every node reads.
        Path keys = root.resolve("keys");
        io.optune.operators.weights.SigningKeys.generateInto(keys);
        List<String> jobArgs = List.of("--conf", options.toString(),
                "--optune.weights.signing.private-key", keys.resolve(io.optune.operators.weights.SigningKeys.PRIVATE_FILE).toString(),
                "--optune.weights.signing.public-key", keys.resolve(io.optune.operators.weights.SigningKeys.PUBLIC_FILE).toString(),
                "--optune.source.builtin.prompts-per-second", String.valueOf(RATE_A),
                "--optune.weights.path", weights.toUri().toString(),
                "--optune.feedback.path", store.resolve("feedback").toUri().toString(),
                "--optune.dead-letters.path", store.resolve("dead-letters").toUri().toString(),
                "--optune.ledger.path", ledger.toUri().toString(),
                "--optune.seed", String.valueOf(SEED),
                "--optune.source.builtin.count", String.valueOf(FEED),
                "--optune.generate.parallelism", "2",
                "--optune.embedded.sft-steps", "200",
                "--optune.train.held-out-size", "32",
                "--optune.train.publish-every", "10");
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(weights.toUri().toString()).build();
        Map<String, Double> timings = new java.util.LinkedHashMap<>();

        try (StandaloneFlinkCluster cluster = new StandaloneFlinkCluster(
                Path.of(System.getProperty("optune.it.flink-dist-lib")), Path.of(System.getProperty("optune.it.flink-lib")),
                root, config)) {
            long t0 = System.nanoTime();
            cluster.start(Duration.ofSeconds(60));
            cluster.startTaskManager("tm-1");
            cluster.startTaskManager("tm-2");
            cluster.awaitTaskManagers(List.of("tm-1", "tm-2"), Duration.ofSeconds(60));
            phase(timings, "cluster up", seconds(t0));

            // `flink run ... --help` prints the job's options and submits nothing.
            String help = cluster.cli(Duration.ofSeconds(60), "run", "-c", OptuneJob.class.getName(), jar.toString(), "--help");
            assertThat(help).contains(JobConfig.help(JobConfig.Entry.CLUSTER));
            assertThat(cluster.get("/jobs").path("jobs")).isEmpty();

            // ---- job A: the Flink CLI, as the README shows ----
            long submitAt = System.nanoTime();
            List<String> run = new ArrayList<>(List.of("run", "-d", "-c", OptuneJob.class.getName(), jar.toString()));
            run.addAll(jobArgs);
            String out = cluster.cli(Duration.ofSeconds(120), run.toArray(new String[0]));
            String jobA = match(SUBMITTED, out, "the CLI's job id");
            phase(timings, "flink run (SFT warm start in the client)", seconds(submitAt));

            // The cluster's restart strategy and checkpoint interval hold for the job.
            JsonNode checkpointConfig = cluster.get("/jobs/" + jobA + "/checkpoints/config");
            assertThat(checkpointConfig.path("interval").asLong()).as("checkpoint interval (ms) of the job")
                    .isEqualTo(CLUSTER_CHECKPOINT_INTERVAL.toMillis());
            assertThat(cluster.get("/jobs/" + jobA + "/config").path("execution-config").path("restart-strategy").asText())
                    .as("restart strategy of the job").startsWith("Restart with exponential delay");

            // Versions are published and every generator subtask, one per TaskManager, loads them.
            awaitJob(cluster, "versions published and loaded by both generators", Duration.ofSeconds(120), jobA, () ->
                    log.history().size() >= 2 && loadedAbove(cluster, "tm-1", 0) && loadedAbove(cluster, "tm-2", 0)
                            && completedCheckpoints(cluster, jobA) >= 1 && allTasksRunning(cluster, jobA));
            Map<String, Set<Integer>> placement = Map.of("tm-1", generators(cluster, "tm-1"), "tm-2", generators(cluster, "tm-2"));
            assertThat(placement.values()).as("generator subtasks per TaskManager").containsExactlyInAnyOrder(Set.of(0), Set.of(1));

            // ---- kill -9 of a TaskManager, and a replacement ----
            long versionsBefore = log.history().size();
            long lostAt = System.currentTimeMillis();
            cluster.kill("tm-2");
            cluster.startTaskManager("tm-3");
            // Training resumes from the checkpoint: the restored attempt (every task running again, one
            // generator on tm-3) publishes a version. (The lost attempt may still publish in the moments
            // before it is cancelled: only versions after the restore count.)
            awaitJob(cluster, "the job restored from a checkpoint on tm-3, publishing again", Duration.ofSeconds(150), jobA, () -> {
                Optional<JsonNode> r = restoredCheckpoint(cluster, jobA);
                return r.isPresent() && allTasksRunning(cluster, jobA) && loadedAbove(cluster, "tm-3", 0)
                        && log.versions().stream().anyMatch(v -> v.publishedAt() > r.get().path("restore_timestamp").asLong());
            });
            phase(timings, "TaskManager lost -> restored attempt published a version", (System.currentTimeMillis() - lostAt) / 1e3);
            JsonNode restored = restoredCheckpoint(cluster, jobA).orElseThrow();
            assertThat(restored.path("is_savepoint").asBoolean()).isFalse();
            phase(timings, "TaskManager lost -> restore started", (restored.path("restore_timestamp").asLong() - lostAt) / 1e3);
            assertThat(log.history().size()).isGreaterThan((int) versionsBefore);

            // ---- stop with a savepoint (CLI), resubmit through the REST API from it ----
            long stopAt = System.nanoTime();
            String savepoint = match(SAVEPOINT, cluster.cli(Duration.ofSeconds(120), "stop", jobA), "the savepoint path");
            phase(timings, "stop with savepoint", seconds(stopAt));
            PolicyUpdate lastOfA = log.latest().orElseThrow();
            long resumedAt = System.currentTimeMillis();
            String jarId = cluster.uploadJar(jar);
            List<String> jobBArgs = new ArrayList<>(jobArgs);
            jobBArgs.addAll(List.of("--optune.source.builtin.prompts-per-second", String.valueOf(RATE_B)));
            JsonNode started = cluster.post("/jars/" + jarId + "/run", Map.of(
                    "entryClass", OptuneJob.class.getName(),
                    "programArgsList", jobBArgs,
                    "savepointPath", savepoint), Duration.ofSeconds(120));
            String jobB = started.path("jobid").asText();
            assertThat(jobB).matches("[0-9a-f]{32}").isNotEqualTo(jobA);
            phase(timings, "REST upload + run (main in the JobManager)", (System.currentTimeMillis() - resumedAt) / 1e3);
            assertThat(restoredCheckpoint(cluster, jobB)).as("job B restored").hasValueSatisfying(r ->
                    assertThat(r.path("is_savepoint").asBoolean()).isTrue());

            // Job B on TaskManagers that ran job A: DJL loads again (parent-first), both generators
            // follow its versions, and the version sequence continues from the savepoint.
            awaitJob(cluster, "job B's versions loaded by both generators", Duration.ofSeconds(120), jobB, () ->
                    loadedAbove(cluster, "tm-1", lastOfA.version()) && loadedAbove(cluster, "tm-3", lastOfA.version()));

            // ---- the feed ends; the committed ledger accounts for every arrival ----
            awaitJob(cluster, "the ledger to account for all " + FEED + " arrivals", Duration.ofSeconds(150), jobB, () ->
                    uncheckedLedgerSize(ledger) >= FEED);
            cluster.patch("/jobs/" + jobB + "?mode=cancel");
            phase(timings, "total", seconds(t0));

            List<PromptOutcome> outcomes = Ledgers.committed(ledger);
            Ledgers.assertAccountsForBuiltinFeed(outcomes, SEED, FEED, 16);
            long firstTrainedAfterLoss = outcomes.stream()
                    .filter(o -> o.outcome() == PromptOutcome.Outcome.TRAINED && o.time() > lostAt)
                    .mapToLong(PromptOutcome::time).min().orElseThrow();
            phase(timings, "TaskManager lost -> training again", (firstTrainedAfterLoss - lostAt) / 1e3);

            List<PolicyUpdate> versions = log.history(); // all of them: the log keeps the newest 20
            for (int i = 0; i < versions.size(); i++) {
                assertThat(versions.get(i).version()).as("versions across both jobs").isEqualTo(i);
            }
            assertThat(versions.get(versions.size() - 1).step()).isGreaterThan(lastOfA.step());
            assertThat(versions.stream().filter(v -> v.publishedAt() > resumedAt).findFirst()).as("job B's first version")
                    .hasValueSatisfying(v -> assertThat(v.version()).isEqualTo(lastOfA.version() + 1));
            for (String tm : List.of("tm-1", "tm-2", "tm-3")) {
                String text = Files.readString(cluster.logs().resolve(tm + ".log")) + Files.readString(cluster.logs().resolve(tm + ".out"));
                assertThat(text).as(tm + " log").doesNotContain("UnsatisfiedLinkError").doesNotContain("already loaded in another classloader");
            }
            // RocksDB's info logs land in Flink's log directory, bounded by the shipped settings, not in
            // the RocksDB working directories.
            try (var files = Files.walk(root)) {
                List<Path> rocksLogs = files.filter(f -> f.getFileName().toString().endsWith("LOG")).toList();
                assertThat(rocksLogs).as("RocksDB info logs").allSatisfy(f -> {
                    assertThat(f.getParent()).isEqualTo(cluster.logs());
                    assertThat(Files.size(f)).isLessThanOrEqualTo(10L << 20);
                });
            }
            System.out.printf("[standalone] %d arrivals, outcomes %s; %d versions; timings (s) %s; logs %s%n", outcomes.size(),
                    Ledgers.tally(outcomes), versions.size(), timings, cluster.logs());
        }
        // Passed: keep conf/ and logs/, drop the state and scratch space (hundreds of MB).
        for (String scratch : List.of("store", "tmp", "web-upload")) {
            deleteTree(root.resolve(scratch));
        }
    }

    /** Waits for {@code condition}; fails early, with the job's exceptions, when the job ends instead. */
    private static void awaitJob(StandaloneFlinkCluster cluster, String what, Duration timeout, String jobId, Check condition)
            throws Exception {
        StandaloneFlinkCluster.await(what, timeout, () -> {
            try {
                String state = cluster.get("/jobs/" + jobId).path("state").asText();
                if (Set.of("FAILED", "CANCELED", "FINISHED").contains(state)) {
                    throw new AssertionError("job " + jobId + " is " + state + " while waiting for " + what + ": "
                            + cluster.get("/jobs/" + jobId + "/exceptions"));
                }
                return condition.holds();
            } catch (IOException e) {
                return false;
            }
        });
    }

    private interface Check {
        boolean holds() throws IOException;
    }

    /** The job is RUNNING and so is every subtask of every vertex (a savepoint needs them all). */
    private static boolean allTasksRunning(StandaloneFlinkCluster cluster, String jobId) throws IOException {
        JsonNode job = cluster.get("/jobs/" + jobId);
        if (!job.path("state").asText().equals("RUNNING")) {
            return false;
        }
        for (JsonNode vertex : job.path("vertices")) {
            int parallelism = vertex.path("parallelism").asInt();
            if (vertex.path("tasks").path("RUNNING").asInt() != parallelism) {
                return false;
            }
        }
        return true;
    }

    private static int completedCheckpoints(StandaloneFlinkCluster cluster, String jobId) throws IOException {
        return cluster.get("/jobs/" + jobId + "/checkpoints").path("counts").path("completed").asInt();
    }

    private static Optional<JsonNode> restoredCheckpoint(StandaloneFlinkCluster cluster, String jobId) throws IOException {
        JsonNode restored = cluster.get("/jobs/" + jobId + "/checkpoints").path("latest").path("restored");
        return restored.isMissingNode() || restored.isNull() ? Optional.empty() : Optional.of(restored);
    }

    /** Generator subtasks of a TaskManager's log, with the versions each loaded. */
    private static Map<Integer, TreeSet<Long>> loads(StandaloneFlinkCluster cluster, String tm) {
        Map<Integer, TreeSet<Long>> out = new TreeMap<>();
        try {
            Matcher m = GENERATOR_LOAD.matcher(Files.readString(cluster.logs().resolve(tm + ".log")));
            while (m.find()) {
                out.computeIfAbsent(Integer.parseInt(m.group(1)), k -> new TreeSet<>()).add(Long.parseLong(m.group(2)));
            }
        } catch (IOException e) {
            // no log yet
        }
        return out;
    }

    private static Set<Integer> generators(StandaloneFlinkCluster cluster, String tm) {
        return loads(cluster, tm).keySet();
    }

    /** Whether a generator in this TaskManager loaded a version newer than {@code version}. */
    private static boolean loadedAbove(StandaloneFlinkCluster cluster, String tm, long version) {
        return loads(cluster, tm).values().stream().anyMatch(v -> !v.isEmpty() && v.last() > version);
    }

    private static int uncheckedLedgerSize(Path ledger) throws IOException {
        return Ledgers.committed(ledger).size();
    }

    private static String match(Pattern p, String text, String what) {
        Matcher m = p.matcher(text);
        assertThat(m.find()).as(what + " in:\n" + text).isTrue();
        return m.group(1);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (var paths = Files.walk(dir)) {
                for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    /** Records a phase's duration and prints it, so that a slow or failed run shows how far it got. */
    private static void phase(Map<String, Double> timings, String name, double seconds) {
        timings.put(name, seconds);
        System.out.printf("[standalone] %s: %.1f s%n", name, seconds);
    }

    private static double seconds(long since) {
        return Math.round((System.nanoTime() - since) / 1e8) / 10.0;
    }
}
