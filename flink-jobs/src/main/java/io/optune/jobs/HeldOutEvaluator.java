package io.optune.jobs;

import io.optune.operators.evaluate.EvaluateOperator;
import io.optune.operators.evaluate.HeldOutEvaluation;
import io.optune.operators.records.PolicyUpdate;
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
 * The held-out rewards of a run's versions, for its summary and plots: the job's evaluate step
 * reports them ({@link EvaluateOperator#ACC_HELD_OUT}, recorded here with {@link #record}); versions it
 * skipped can be evaluated here ({@link #evaluate}, as the benchmark does after a run so evaluation
 * takes no CPU from the run it measures, and the driver does for the final version). Results are
 * appended to a CSV file ({@code version,step,held_out_reward,evaluated_at}) that a resumed run reads
 * back, and {@link #apply} fills them into the weight log's history.
 */
public final class HeldOutEvaluator {
    private static final Logger LOG = LoggerFactory.getLogger(HeldOutEvaluator.class);
    static final String HEADER = "version,step,held_out_reward,evaluated_at";

    private final HeldOutEvaluation evaluation;
    private final Path file;
    private final Map<Long, Double> rewards = new ConcurrentSkipListMap<>();

    /** @param file where results are appended and read back from (created when missing) */
    public HeldOutEvaluator(HeldOutEvaluation evaluation, Path file) throws IOException {
        this.evaluation = evaluation;
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

    /** The evaluation a configuration asks for: the built-in task with a positive held-out size; else null. */
    static HeldOutEvaluation evaluation(org.apache.flink.configuration.ReadableConfig conf, WeightLog log) {
        int size = conf.get(OptuneOptions.HELD_OUT_SIZE);
        if (size < 1 || conf.get(OptuneOptions.SOURCE_TYPE) != OptuneOptions.SourceType.BUILTIN) {
            return null;
        }
        return new HeldOutEvaluation(log, size, conf.get(OptuneOptions.SEED), conf.get(OptuneOptions.BUILTIN_MAX_OPERAND),
                conf.get(OptuneOptions.MAX_PROMPT_TOKENS), conf.get(OptuneOptions.MAX_NEW_TOKENS),
                OptuneTopology.device(conf, OptuneOptions.GENERATE_DEVICE));
    }

    /** The held-out reward of {@code version} when evaluated (here, by the job or by the publisher), else NaN. */
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

    /** Records the job's results ({@code "version,reward"} lines of the accumulator) not seen yet. */
    void record(Object accumulated, List<PolicyUpdate> history) throws IOException {
        if (!(accumulated instanceof List<?> lines)) {
            return;
        }
        Map<Long, PolicyUpdate> byVersion = new java.util.HashMap<>();
        history.forEach(v -> byVersion.put(v.version(), v));
        for (Object o : lines) {
            String[] f = String.valueOf(o).split(",");
            long version = Long.parseLong(f[0]);
            if (!rewards.containsKey(version)) {
                double r = Double.parseDouble(f[1]);
                rewards.put(version, r);
                PolicyUpdate v = byVersion.get(version);
                append(version, v == null ? -1 : v.step(), r);
            }
        }
    }

    /** Evaluates each of {@code versions} not evaluated yet; returns them with their rewards filled in. */
    public List<PolicyUpdate> evaluate(List<PolicyUpdate> versions) throws IOException {
        for (PolicyUpdate v : versions) {
            if (Double.isNaN(reward(v))) {
                double r = evaluation.evaluate(v);
                if (!Double.isNaN(r)) {
                    rewards.put(v.version(), r);
                    append(v.version(), v.step(), r);
                }
            }
        }
        return apply(versions);
    }

    private synchronized void append(long version, long step, double reward) throws IOException {
        boolean fresh = !Files.exists(file);
        String line = String.format(Locale.ROOT, "%s%d,%d,%.6f,%d%n", fresh ? HEADER + "\n" : "", version, step, reward,
                System.currentTimeMillis());
        Files.writeString(file, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** Versions with a known held-out reward (for tests and logs). */
    int evaluated() {
        return rewards.size();
    }
}
