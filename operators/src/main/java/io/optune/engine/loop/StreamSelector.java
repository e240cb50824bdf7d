package io.optune.engine.loop;

import io.optune.engine.Rng;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * OPTune's selection for a stream of prompt arrivals (one instance per select subtask; no Flink).
 *
 * <p>The paper regenerates the lowest-reward share {@code rho} of prompts per round and trains every
 * other stored pair once. A stream has no rounds and prompts recur at very different rates, so this
 * class makes the same promise per arrival:
 *
 * <ul>
 *   <li><b>Ranking over prompts</b>: a bounded map of the latest score of each prompt this subtask
 *       owns ({@link #scoreUpdated}: replaced, not appended, so a hot prompt counts once). A known
 *       prompt's {@code u} is its score's mid-rank in that map (OPTUNE) or a uniform draw (RANDOM).
 *   <li><b>Share control</b>: the prompt is regenerated when {@code u < q}. The threshold {@code q}
 *       is {@code bias + deficit / (2 * DEFICIT_BOUND)}: {@code deficit} is the running
 *       {@code rho * arrivals - regenerations} (clamped: no wind-up after a warm-up of new prompts),
 *       {@code bias} integrates the same error slowly so the deficit stays near zero under skew.
 *       When the deficit leaves {@code +-DEFICIT_BOUND}, the arrival is regenerated / reused
 *       whatever its rank. So the realised share over any {@code n} arrivals stays within about
 *       {@code 2 * DEFICIT_BOUND / n} of {@code rho} wherever that is feasible.
 *   <li><b>Arrivals that are not free choices</b> count in the share as what they are: a new prompt
 *       is generated; a stored pair reused {@code maxReuses} times or older than {@code maxStaleness}
 *       policy versions forces a regeneration (and a pair nearing either cap sinks in the ranking, so
 *       it is usually regenerated before). The controller makes up for them with the free choices.
 *   <li><b>In flight</b>: an arrival of a prompt whose regeneration is in flight is skipped (its
 *       stored pair is stale and its fresh pair is on the way) and left out of the share: like a
 *       prompt drawn twice in one of the paper's rounds, it is the same prompt, not another choice.
 * </ul>
 *
 * {@code ALL} regenerates every arrival (full online DPO) and ignores in-flight marks.
 */
public final class StreamSelector {
    /** Arrivals of deficit beyond which the rank is overruled (bounds the share error). */
    static final int DEFICIT_BOUND = 10;
    /** Learning rate of the slow bias term. */
    static final double BIAS_GAIN = 0.002;
    /** Arrivals over which {@link #realisedRho()} is measured. */
    public static final int REALISED_WINDOW = 1000;
    private static final int FORMAT = 1;

    /** What one arrival became. */
    public enum Decision {
        /** No memory: generated. */
        NEW(true),
        /** Chosen by rank (or draw) and the share controller. */
        REGENERATE(true),
        /** The stored pair was reused {@code maxReuses} times. */
        REGENERATE_REUSE_CAP(true),
        /** The stored pair is more than {@code maxStaleness} policy versions old. */
        REGENERATE_STALE(true),
        /** The stored pair is trained again. */
        REUSE(false),
        /** Its regeneration is in flight: nothing to train now. */
        IN_FLIGHT(false);

        private final boolean regenerates;

        Decision(boolean regenerates) {
            this.regenerates = regenerates;
        }

        public boolean regenerates() {
            return regenerates;
        }
    }

    /** Caps on how long a stored pair may stand in for a regeneration (0: no cap). */
    public record Limits(int maxReuses, long maxStaleness) implements java.io.Serializable {
        public Limits {
            if (maxReuses < 0 || maxStaleness < 0) {
                throw new IllegalArgumentException("max-reuses and max-staleness must be >= 0 (0: no cap)");
            }
        }

        public static Limits none() {
            return new Limits(0, 0);
        }
    }

    private final SelectionStrategy strategy;
    private final Limits limits;
    private final int capacity;
    private final LinkedHashMap<String, Float> scores;
    private double rho;
    private double deficit;
    private double bias;
    private final boolean[] recent = new boolean[REALISED_WINDOW];
    private int recentNext;
    private int recentSize;
    private int recentRegenerated;

    /**
     * @param capacity prompts whose latest score is kept for ranking (least recently seen dropped)
     */
    public StreamSelector(SelectionStrategy strategy, double rho, Limits limits, int capacity) {
        if (strategy == null || limits == null || capacity < 1) {
            throw new IllegalArgumentException("strategy, limits and capacity >= 1 required");
        }
        this.strategy = strategy;
        this.limits = limits;
        this.capacity = capacity;
        this.scores = new LinkedHashMap<>(16, 0.75f, true);
        setRho(rho);
        this.bias = this.rho;
    }

    public SelectionStrategy strategy() {
        return strategy;
    }

    /** The target share (changes when rho is chosen automatically). */
    public double rho() {
        return rho;
    }

    public void setRho(double rho) {
        if (!(rho >= 0 && rho <= 1)) {
            throw new IllegalArgumentException("rho must be in [0, 1]: " + rho);
        }
        this.rho = strategy == SelectionStrategy.ALL ? 1.0 : rho;
    }

    /**
     * Decides one arrival.
     *
     * @param score the prompt's stored score, NaN for a prompt without memory
     * @param inFlight its regeneration was requested and its memory has not come back
     * @param reuses times its current stored pair was reused already
     * @param staleness policy versions between the stored pair and the newest version known
     */
    public Decision decide(String promptId, double score, boolean inFlight, int reuses, long staleness, Rng rng) {
        Decision d = choose(promptId, score, inFlight, reuses, staleness, rng);
        if (d != Decision.IN_FLIGHT) { // a duplicate of a prompt being regenerated is no choice: not in the share
            record(d.regenerates());
        }
        return d;
    }

    private Decision choose(String promptId, double score, boolean inFlight, int reuses, long staleness, Rng rng) {
        boolean known = !Double.isNaN(score);
        if (known) {
            scores.put(promptId, (float) score);
            trim();
        }
        if (strategy == SelectionStrategy.ALL) {
            return known ? Decision.REGENERATE : Decision.NEW;
        }
        if (inFlight) {
            return Decision.IN_FLIGHT;
        }
        if (!known) {
            return Decision.NEW;
        }
        if (limits.maxReuses() > 0 && reuses >= limits.maxReuses()) {
            return Decision.REGENERATE_REUSE_CAP;
        }
        if (limits.maxStaleness() > 0 && staleness > limits.maxStaleness()) {
            return Decision.REGENERATE_STALE;
        }
        if (deficit >= DEFICIT_BOUND) {
            return Decision.REGENERATE;
        }
        if (deficit <= -DEFICIT_BOUND) {
            return Decision.REUSE;
        }
        double u = strategy == SelectionStrategy.OPTUNE ? rank(score) : rng.nextDouble();
        // A pair nearing a cap sinks in the ranking, so the controller regenerates it before the cap
        // forces it: prompts stored together (a warm-up, a burst) would otherwise all hit it at once.
        double age = 0;
        if (limits.maxReuses() > 0) {
            age = Math.max(age, (double) reuses / limits.maxReuses());
        }
        if (limits.maxStaleness() > 0) {
            age = Math.max(age, (double) staleness / limits.maxStaleness());
        }
        u *= 1 - Math.min(1, age);
        return u < threshold() ? Decision.REGENERATE : Decision.REUSE;
    }

    /** The quantile below which a known prompt is regenerated now. */
    public double threshold() {
        return Math.min(1.0, Math.max(0.0, bias + deficit / (2.0 * DEFICIT_BOUND)));
    }

    private void record(boolean regenerated) {
        if (strategy != SelectionStrategy.ALL) {
            double error = rho - (regenerated ? 1 : 0);
            deficit = Math.max(-2.0 * DEFICIT_BOUND, Math.min(2.0 * DEFICIT_BOUND, deficit + error));
            bias = Math.max(0.0, Math.min(1.0, bias + BIAS_GAIN * error));
        }
        if (recentSize == REALISED_WINDOW && recent[recentNext]) {
            recentRegenerated--;
        }
        recent[recentNext] = regenerated;
        if (regenerated) {
            recentRegenerated++;
        }
        recentNext = (recentNext + 1) % REALISED_WINDOW;
        recentSize = Math.min(recentSize + 1, REALISED_WINDOW);
    }

    /** A prompt's memory changed: its score replaces the one it had in the ranking. */
    public void scoreUpdated(String promptId, double score) {
        if (!Double.isFinite(score)) {
            throw new IllegalArgumentException("score must be finite: " + score);
        }
        scores.put(promptId, (float) score);
        trim();
    }

    private void trim() {
        Iterator<Map.Entry<String, Float>> it = scores.entrySet().iterator();
        while (scores.size() > capacity && it.hasNext()) {
            it.next();
            it.remove();
        }
    }

    /** Mid-rank of a score among the prompts' latest scores: (#below + #equal / 2) / n. */
    public double rank(double score) {
        if (scores.isEmpty()) {
            return 0.0;
        }
        float v = (float) score;
        int below = 0;
        int equal = 0;
        for (float s : scores.values()) {
            if (s < v) {
                below++;
            } else if (s == v) {
                equal++;
            }
        }
        return (below + equal / 2.0) / scores.size();
    }

    /** Prompts in the ranking. */
    public int rankedPrompts() {
        return scores.size();
    }

    /**
     * Share of regenerated arrivals among the last {@link #REALISED_WINDOW} decided ones (NaN before
     * any); arrivals skipped because their prompt's regeneration is in flight are not counted.
     */
    public double realisedRho() {
        return recentSize == 0 ? Double.NaN : (double) recentRegenerated / recentSize;
    }

    /** Running {@code rho * arrivals - regenerations}, clamped. */
    public double deficit() {
        return deficit;
    }

    /** The state as bytes: controller, realised window, and the ranked prompts kept by {@code keep}. */
    public byte[] snapshot() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(FORMAT);
            out.writeDouble(rho);
            out.writeDouble(deficit);
            out.writeDouble(bias);
            out.writeInt(recentSize);
            int start = recentSize < REALISED_WINDOW ? 0 : recentNext;
            for (int i = 0; i < recentSize; i++) {
                out.writeBoolean(recent[(start + i) % REALISED_WINDOW]);
            }
            out.writeInt(scores.size());
            for (Map.Entry<String, Float> e : scores.entrySet()) { // least recently seen first
                out.writeUTF(e.getKey());
                out.writeFloat(e.getValue());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /**
     * Restores from a {@link #snapshot()}. With {@code controller} the share controller and the
     * realised window are taken over too (the same subtask restoring); the ranked prompts are
     * always merged, those for which {@code owned} is false skipped (after a rescale they belong to
     * another subtask).
     */
    public void restore(byte[] snapshot, boolean controller, Predicate<String> owned) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(snapshot))) {
            int format = in.readInt();
            if (format != FORMAT) {
                throw new IllegalStateException("unknown select state format " + format);
            }
            double savedRho = in.readDouble();
            double savedDeficit = in.readDouble();
            double savedBias = in.readDouble();
            int n = in.readInt();
            boolean[] saved = new boolean[n];
            for (int i = 0; i < n; i++) {
                saved[i] = in.readBoolean();
            }
            if (controller) {
                if (strategy != SelectionStrategy.ALL) {
                    rho = savedRho;
                }
                deficit = savedDeficit;
                bias = savedBias;
                recentSize = 0;
                recentNext = 0;
                recentRegenerated = 0;
                for (boolean b : saved) {
                    if (recentSize == REALISED_WINDOW && recent[recentNext]) {
                        recentRegenerated--;
                    }
                    recent[recentNext] = b;
                    recentRegenerated += b ? 1 : 0;
                    recentNext = (recentNext + 1) % REALISED_WINDOW;
                    recentSize = Math.min(recentSize + 1, REALISED_WINDOW);
                }
            }
            int m = in.readInt();
            for (int i = 0; i < m; i++) {
                String id = in.readUTF();
                float s = in.readFloat();
                if (owned.test(id)) {
                    scores.put(id, s);
                }
            }
            trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
