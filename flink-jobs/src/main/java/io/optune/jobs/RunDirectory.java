package io.optune.jobs;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import io.optune.engine.Json;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Where an embedded run keeps everything it makes, and how a later run finds it again.
 *
 * <p>A new run gets a directory of its own ({@code <runs-dir>/<yyyyMMdd-HHmmss>}, with
 * {@code <runs-dir>/latest} linked to it); a directory that already holds a run is only ever
 * continued ({@code --resume}), never emptied. {@code run.json} records the run's state so that a
 * run killed without warning is recognised, and its resume command printed, at the next start.
 */
public final class RunDirectory {
    /** The run's state file. */
    public static final String STATE_FILE = "run.json";
    static final String LATEST = "latest";
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

    /** How a run ended, as far as {@code run.json} knows ({@code RUNNING} after a kill -9 too). */
    public enum Status { RUNNING, FINISHED, CANCELLED, FAILED }

    /**
     * The state file's content.
     *
     * @param pid the process that runs (or ran) it, to tell a live run from a killed one
     * @param args the command-line arguments, to print the exact resume command
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record State(Status status, long pid, long startedAt, long endedAt, List<String> args, List<String> jobIds,
            String message) {
        State with(Status s, String why) {
            return new State(s, pid, startedAt, s == Status.RUNNING ? 0 : System.currentTimeMillis(), args, jobIds, why);
        }
    }

    /** A state to resume from: a retained checkpoint ({@code chk-N}) or a savepoint, both with {@code _metadata}. */
    public record ResumePoint(Path path, boolean savepoint, long modifiedAt) {}

    private final Path dir;
    private final boolean resumed;

    private RunDirectory(Path dir, boolean resumed) {
        this.dir = dir;
        this.resumed = resumed;
    }

    public Path path() {
        return dir;
    }

    /** True when this run continues an earlier run in the same directory. */
    public boolean resumed() {
        return resumed;
    }

    /**
     * Chooses the run's directory from the configuration; returns it with the configuration to run
     * (for a resume: {@code execution.state-recovery.path} set to the newest resume point).
     *
     * @throws IllegalStateException naming the choices when the directory already holds a run
     */
    public static Prepared prepare(Configuration conf, LocalDateTime now) throws IOException {
        Path runsDir = Path.of(conf.get(OptuneOptions.RUNS_DIR)).toAbsolutePath();
        Optional<String> resume = conf.getOptional(OptuneOptions.RESUME);
        boolean explicitRecovery = conf.getOptional(StateRecoveryOptions.SAVEPOINT_PATH).isPresent();
        if (resume.isPresent()) {
            if (explicitRecovery) {
                throw new IllegalArgumentException("give either --resume (the run's newest checkpoint) or "
                        + "execution.state-recovery.path (a checkpoint or savepoint of your choice), not both");
            }
            Path runDir = resolveResume(resume.get(), runsDir, conf);
            ResumePoint point = newestResumePoint(runDir).orElseThrow(() -> new IllegalStateException("run directory "
                    + runDir + " holds no complete retained checkpoint or savepoint to resume from (none has a _metadata "
                    + "file under checkpoints/*/chk-N or savepoints/); start a new run instead (leave out --resume)"));
            Configuration out = new Configuration(conf);
            out.set(OptuneOptions.RUN_DIR, runDir.toString());
            out.set(StateRecoveryOptions.SAVEPOINT_PATH, point.path().toString());
            return new Prepared(new RunDirectory(runDir, true), out, Optional.of(point));
        }
        Path runDir;
        Configuration out = new Configuration(conf);
        if (conf.getOptional(OptuneOptions.RUN_DIR).isPresent()) {
            runDir = Path.of(conf.get(OptuneOptions.RUN_DIR)).toAbsolutePath();
            // A new job started from explicit state may continue in a directory of its own choosing.
            if (holdsRun(runDir) && !explicitRecovery) {
                throw new IllegalStateException(runDir + " already holds a run (" + describe(runDir) + "). Nothing was "
                        + "deleted. Choose one of:\n  --resume " + runDir + "   to continue it from its newest checkpoint\n"
                        + "  leave out optune.embedded.run-dir   to start a new run in " + runsDir + "/<timestamp>\n"
                        + "  --optune.embedded.run-dir OTHER_DIR   to start a new run elsewhere");
            }
        } else {
            runDir = newRunDir(runsDir, now);
            out.set(OptuneOptions.RUN_DIR, runDir.toString());
        }
        Files.createDirectories(runDir);
        if (runDir.getParent() != null && runDir.getParent().equals(runsDir)) {
            pointLatestAt(runsDir, runDir);
        }
        return new Prepared(new RunDirectory(runDir, holdsRun(runDir) && explicitRecovery), out, Optional.empty());
    }

    /** The chosen directory, the configuration to run with, and the resume point when resuming. */
    public record Prepared(RunDirectory run, Configuration conf, Optional<ResumePoint> resumePoint) {}

    private static Path resolveResume(String value, Path runsDir, Configuration conf) throws IOException {
        Path p = value.isBlank() || value.equals(LATEST) ? runsDir.resolve(LATEST) : Path.of(value).toAbsolutePath();
        if (!Files.exists(p)) {
            throw new IllegalStateException("cannot resume: " + p + " does not exist"
                    + (value.equals(LATEST) ? " (no run has been started under " + runsDir + ")" : ""));
        }
        return p.toRealPath();
    }

    /** A directory holds a run when it has anything in it (a run we made or files the user put there). */
    static boolean holdsRun(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isPresent();
        }
    }

    private static String describe(Path dir) {
        try {
            Optional<State> s = readState(dir);
            Optional<ResumePoint> p = newestResumePoint(dir);
            return s.map(x -> "status " + x.status()).orElse("no run.json") + ", "
                    + p.map(x -> "newest " + (x.savepoint() ? "savepoint " : "checkpoint ") + x.path()).orElse("no checkpoint");
        } catch (IOException e) {
            return "unreadable: " + e.getMessage();
        }
    }

    static Path newRunDir(Path runsDir, LocalDateTime now) {
        String base = STAMP.format(now);
        Path p = runsDir.resolve(base);
        for (int i = 2; Files.exists(p); i++) {
            p = runsDir.resolve(base + "-" + i);
        }
        return p;
    }

    /** Points {@code <runs-dir>/latest} at the run (a relative link); a real directory of that name is left alone. */
    static void pointLatestAt(Path runsDir, Path runDir) throws IOException {
        Path latest = runsDir.resolve(LATEST);
        if (Files.exists(latest, java.nio.file.LinkOption.NOFOLLOW_LINKS) && !Files.isSymbolicLink(latest)) {
            System.out.println("note: " + latest + " is a directory of an earlier version's run, not a link; left as it is");
            return;
        }
        Path tmp = runsDir.resolve(".latest-" + ProcessHandle.current().pid());
        Files.deleteIfExists(tmp);
        Files.createSymbolicLink(tmp, runsDir.relativize(runDir));
        Files.move(tmp, latest, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    // ---- state ----

    public void writeState(State state) throws IOException {
        Path tmp = dir.resolve(STATE_FILE + ".tmp");
        Files.writeString(tmp, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(state));
        Files.move(tmp, dir.resolve(STATE_FILE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    public static Optional<State> readState(Path runDir) {
        Path f = runDir.resolve(STATE_FILE);
        if (!Files.exists(f)) {
            return Optional.empty();
        }
        try {
            return Optional.of(Json.MAPPER.readValue(f.toFile(), State.class));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * Runs under {@code runsDir} that did not finish and can be resumed: killed ones (state
     * {@code RUNNING} but their process is gone), failed and cancelled ones, each with a resume point.
     */
    public static List<Path> unfinished(Path runsDir) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(runsDir)) {
            return out;
        }
        try (Stream<Path> s = Files.list(runsDir)) {
            for (Path d : s.filter(p -> Files.isDirectory(p) && !Files.isSymbolicLink(p)).sorted().toList()) {
                Optional<State> st = readState(d);
                if (st.isEmpty() || st.get().status() == Status.FINISHED) {
                    continue;
                }
                boolean alive = st.get().status() == Status.RUNNING
                        && ProcessHandle.of(st.get().pid()).map(ProcessHandle::isAlive).orElse(false);
                if (!alive && newestResumePoint(d).isPresent()) {
                    out.add(d);
                }
            }
        }
        return out;
    }

    // ---- resume points ----

    /**
     * The newest complete retained checkpoint or savepoint of a run: {@code checkpoints/<job-id>/chk-N}
     * and {@code savepoints/savepoint-*} holding a non-empty {@code _metadata} (the file Flink writes
     * last), newest by that file's time.
     */
    public static Optional<ResumePoint> newestResumePoint(Path runDir) throws IOException {
        List<ResumePoint> all = new ArrayList<>();
        Path checkpoints = runDir.resolve("checkpoints");
        if (Files.isDirectory(checkpoints)) {
            try (Stream<Path> jobs = Files.list(checkpoints)) {
                for (Path job : jobs.filter(Files::isDirectory).toList()) {
                    latestCheckpoint(job).ifPresent(c -> all.add(point(c, false)));
                }
            }
        }
        Path savepoints = runDir.resolve("savepoints");
        if (Files.isDirectory(savepoints)) {
            try (Stream<Path> s = Files.list(savepoints)) {
                s.filter(p -> p.getFileName().toString().startsWith("savepoint-") && complete(p)).forEach(p -> all.add(point(p, true)));
            }
        }
        return all.stream().max(Comparator.comparingLong(ResumePoint::modifiedAt));
    }

    /**
     * The newest complete retained checkpoint ({@code chk-<n>} with its metadata file) in one job's
     * checkpoint directory ({@code <execution.checkpointing.dir>/<job-id>}).
     */
    public static Optional<Path> latestCheckpoint(Path jobCheckpointDir) throws IOException {
        if (!Files.isDirectory(jobCheckpointDir)) {
            return Optional.empty();
        }
        try (Stream<Path> paths = Files.list(jobCheckpointDir)) {
            return paths.filter(p -> p.getFileName().toString().matches("chk-\\d+") && complete(p))
                    .max(Comparator.comparingLong((Path p) -> Long.parseLong(p.getFileName().toString().substring(4))));
        }
    }

    private static boolean complete(Path stateDir) {
        Path meta = stateDir.resolve("_metadata");
        try {
            return Files.isRegularFile(meta) && Files.size(meta) > 0;
        } catch (IOException e) {
            return false;
        }
    }

    private static ResumePoint point(Path p, boolean savepoint) {
        try {
            return new ResumePoint(p, savepoint, Files.getLastModifiedTime(p.resolve("_metadata")).toMillis());
        } catch (IOException e) {
            return new ResumePoint(p, savepoint, 0);
        }
    }

    // ---- in-progress files ----

    /**
     * Removes the in-progress part files ({@code .part-*.inprogress.*}) that a killed job left in the
     * run's file sinks and that the resumed job has superseded: older than the resumed job's start and
     * still there after it stopped with a savepoint (by then every pending file restored from the
     * checkpoint has been committed, i.e. renamed, so what is left was never committed and its records
     * were replayed). Returns how many were removed.
     */
    public static int removeSupersededInProgress(List<Path> sinkDirs, long resumedJobStartedAt) throws IOException {
        int removed = 0;
        for (Path d : sinkDirs) {
            if (!Files.isDirectory(d)) {
                continue;
            }
            List<Path> stale;
            try (Stream<Path> s = Files.walk(d)) {
                stale = s.filter(p -> isInProgress(p) && modifiedBefore(p, resumedJobStartedAt)).toList();
            }
            for (Path p : stale) {
                if (Files.deleteIfExists(p)) {
                    removed++;
                }
            }
        }
        return removed;
    }

    /** Flink's file sink names uncommitted parts {@code .<part>.inprogress.<uuid>}; committed ones have no dot prefix. */
    static boolean isInProgress(Path p) {
        String n = p.getFileName().toString();
        return Files.isRegularFile(p) && n.startsWith(".") && n.contains(".inprogress");
    }

    private static boolean modifiedBefore(Path p, long t) {
        try {
            return Files.getLastModifiedTime(p).toMillis() < t;
        } catch (IOException e) {
            return false;
        }
    }
}
