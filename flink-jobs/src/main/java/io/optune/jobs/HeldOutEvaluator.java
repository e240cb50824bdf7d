package io.optune.jobs;

import ai.djl.ndarray.NDManager;
import io.optune.engine.PromptEncoder;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.task.BuiltinTask;
import io.optune.engine.task.Evaluator;
import io.optune.engine.task.TaskPrompt;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.weights.WeightLog;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * The held-out evaluation of the built-in task, off the trainer: it reads published versions from
 * the weight log (verified, like any consumer) and scores each with greedy decoding on a fixed
 * held-out set. The trainer never waits for it and its time is not training time.
 *
 * <p>Two ways to use it: {@link #start} follows a running job from its own thread, evaluating the
 * newest unevaluated version each time (it skips versions when it falls behind, so it never queues
 * up work); {@link #evaluate} scores given versions after a run (what the benchmark does, so that
 * evaluation takes no CPU from the runs it measures). Results are appended to a CSV file
 * ({@code version,step,held_out_reward,evaluated_at}) that a resumed run reads back, and
 * {@link #apply} fills them into the weight log's history for summaries and plots.
 */
public final class HeldOutEvaluator implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HeldOutEvaluator.class);
    static final String HEADER = "version,step,held_out_reward,evaluated_at";

    private final WeightLog log;
    private final List<TaskPrompt> heldOut;
    private final int maxPromptTokens;
    private final int maxNewTokens;
    private final Path file;
    private final Map<Long, Double> rewards = new ConcurrentSkipListMap<>();
    private volatile Thread follower;
    private volatile boolean stopping;

    /**
     * @param file where results are appended and read back from (created when missing)
     */
    public HeldOutEvaluator(WeightLog log, int heldOutSize, long seed, int maxOperand, int maxPromptTokens, int maxNewTokens,
            Path file) throws IOException {
        if (heldOutSize < 1) {
            throw new IllegalArgumentException("held-out size must be >= 1: " + heldOutSize);
        }
        this.log = log;
        this.heldOut = BuiltinTask.heldOut(heldOutSize, seed, maxOperand);
        this.maxPromptTokens = maxPromptTokens;
        this.maxNewTokens = maxNewTokens;
        this.file = file;
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] f = line.split(",");
                if (f.length >= 3 && !line.equals(HEADER)) {
                    try {
                        rewards.put(Long.parseLong(f[0]), Double.parseDouble(f[2]));
                    } catch (NumberFormatException e) {
                        LOG.warn("Skipping an unreadable line of {}: {}", file, line);
                    }
                }
            }
        }
    }

    /** The evaluator a configuration asks for: the built-in task with a positive held-out size; else null. */
    static HeldOutEvaluator of(org.apache.flink.configuration.ReadableConfig conf, WeightLog log, Path file) throws IOException {
        int size = conf.get(OptuneOptions.HELD_OUT_SIZE);
        if (size < 1 || conf.get(OptuneOptions.SOURCE_TYPE) != OptuneOptions.SourceType.BUILTIN) {
            return null;
        }
        return new HeldOutEvaluator(log, size, conf.get(OptuneOptions.SEED), conf.get(OptuneOptions.BUILTIN_MAX_OPERAND),
                conf.get(OptuneOptions.MAX_PROMPT_TOKENS),
                conf.get(OptuneOptions.MAX_NEW_TOKENS), file);
    }

    /** The held-out reward of {@code version} when evaluated (here or by the publisher), else NaN. */
    public double reward(PolicyUpdate version) {
        Double r = rewards.get(version.version());
        return r != null ? r : version.heldOutReward();
    }

    /** {@code versions} with the held-out rewards known here filled in. */
    public List<PolicyUpdate> apply(List<PolicyUpdate> versions) {
        List<PolicyUpdate> out = new ArrayList<>(versions.size());
        for (PolicyUpdate v : versions) {
            double r = reward(v);
            out.add(Double.compare(r, v.heldOutReward()) == 0 ? v : new PolicyUpdate(v.version(), v.step(), v.location(), v.sha256(),
                    v.publishedAt(), v.loss(), v.margin(), v.logRatioMean(), v.reward(), v.freshFraction(), r));
        }
        return out;
    }

    /** Evaluates each of {@code versions} not evaluated yet; returns them with their rewards filled in. */
    public List<PolicyUpdate> evaluate(List<PolicyUpdate> versions) throws IOException {
        for (PolicyUpdate v : versions) {
            if (Double.isNaN(reward(v))) {
                evaluateOne(v);
            }
        }
        return apply(versions);
    }

    /** Scores one version and records the result; NaN when the version cannot be read (pruned, refused). */
    public double evaluateOne(PolicyUpdate v) throws IOException {
        double reward;
        try (VerifiedVersion files = log.readVerified(v); NDManager manager = NDManager.newBaseManager()) {
            PolicyDirectory.Loaded loaded = PolicyDirectory.load(files.dir(), manager);
            try {
                reward = new Evaluator(heldOut, new PromptEncoder(loaded.tokenizer(), maxPromptTokens), maxNewTokens)
                        .evaluate(loaded.model(), manager).meanReward();
            } finally {
                loaded.model().close();
            }
        } catch (IOException e) {
            if (!log.isRetained(v)) {
                return Double.NaN; // pruned before we got to it: newer versions exist
            }
            throw e;
        }
        rewards.put(v.version(), reward);
        append(v, reward);
        return reward;
    }

    private synchronized void append(PolicyUpdate v, double reward) throws IOException {
        boolean fresh = !Files.exists(file);
        String line = String.format(Locale.ROOT, "%s%d,%d,%.6f,%d%n", fresh ? HEADER + "\n" : "", v.version(), v.step(), reward,
                System.currentTimeMillis());
        Files.writeString(file, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /**
     * Follows the log from a daemon thread: every {@code pollMs}, evaluates the newest version that
     * has no held-out reward yet (older unevaluated ones are skipped). Stops at {@link #close} or once
     * {@code publisherAlive} says false (or fails), whichever comes first.
     */
    public synchronized void start(long pollMs, java.util.function.BooleanSupplier publisherAlive) {
        if (follower != null) {
            return;
        }
        Thread t = new Thread(() -> {
            while (!stopping && alive(publisherAlive)) {
                try {
                    List<PolicyUpdate> all = log.versions();
                    if (!all.isEmpty() && Double.isNaN(reward(all.get(all.size() - 1)))) {
                        evaluateOne(all.get(all.size() - 1));
                    } else {
                        Thread.sleep(pollMs);
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (IOException | RuntimeException e) {
                    if (stopping) {
                        return;
                    }
                    LOG.warn("Held-out evaluation failed (retrying): {}", e.toString());
                    try {
                        Thread.sleep(pollMs);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }, "held-out-evaluator");
        t.setDaemon(true);
        t.start();
        follower = t;
    }

    private static boolean alive(java.util.function.BooleanSupplier publisherAlive) {
        try {
            return publisherAlive.getAsBoolean();
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Stops following (waits for the version being evaluated); results stay readable. */
    @Override
    public void close() {
        stopping = true;
        Thread t = follower;
        if (t != null) {
            try {
                t.join(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Versions evaluated so far (for tests and logs). */
    int evaluated() {
        return rewards.size();
    }
}
