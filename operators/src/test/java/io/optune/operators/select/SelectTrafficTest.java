package io.optune.operators.select;

import io.optune.operators.OperatorTestSupport;

import io.optune.engine.Rng;
import io.optune.engine.loop.AutoRho;
import io.optune.engine.loop.SelectionStrategy;
import io.optune.engine.loop.StreamSelector;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.MemoryUpdate;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.records.StoredPair;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Thousands of arrivals of simulated prompt traffic through the select step in a keyed harness,
 * with each regeneration's memory update coming back some arrivals later (the feedback edge's
 * delay). Checks the promises of {@link StreamSelector}: the realised share of regenerated
 * arrivals over every window of 1,000 arrivals after warm-up stays within 0.05 of rho, stored pairs
 * are reused at most max-reuses times and while at most max-staleness versions old, and all of it
 * holds across a snapshot and restore mid-stream.
 */
class SelectTrafficTest {
    static final int ARRIVALS = 10000;
    static final int WARM_UP = 3000;
    static final int MAX_REUSES = 8;
    static final int MAX_STALENESS = 4;
    /** Arrivals per policy version. */
    static final int VERSION_EVERY = 500;

    enum Traffic { RECURRING, BURSTY, ZIPF }

    /** Prompt ids of a traffic pattern, deterministic. */
    static List<String> traffic(Traffic t, int n, long seed) {
        Rng rng = new Rng(seed);
        List<String> ids = new ArrayList<>(n);
        switch (t) {
            case RECURRING -> { // a pool of 512 prompts, each round shuffled, plus a new prompt now and then
                int pool = 512;
                int fresh = 0;
                while (ids.size() < n) {
                    int[] order = shuffled(pool, rng);
                    for (int i : order) {
                        ids.add("p" + i);
                        if (rng.nextDouble() < 0.02) {
                            ids.add("new" + fresh++);
                        }
                    }
                }
            }
            case BURSTY -> { // a 400-prompt background, with bursts where 10 hot prompts make 80% of arrivals
                int burst = 0;
                for (int i = 0; ids.size() < n; i++) {
                    boolean inBurst = (i / 300) % 3 == 2;
                    if (inBurst && rng.nextDouble() < 0.8) {
                        ids.add("hot" + (burst % 7) + "-" + rng.nextInt(10));
                    } else {
                        ids.add("p" + rng.nextInt(400));
                    }
                    if (i % 900 == 899) {
                        burst++;
                    }
                }
            }
            case ZIPF -> { // Zipf(1.1) over 1000 prompts: a few very hot, a long tail seen rarely
                int m = 1000;
                double[] cdf = new double[m];
                double sum = 0;
                for (int k = 0; k < m; k++) {
                    sum += 1.0 / Math.pow(k + 1, 1.1);
                    cdf[k] = sum;
                }
                for (int i = 0; i < n; i++) {
                    double u = rng.nextDouble() * sum;
                    int lo = 0;
                    int hi = m - 1;
                    while (lo < hi) {
                        int mid = (lo + hi) >>> 1;
                        if (cdf[mid] < u) {
                            lo = mid + 1;
                        } else {
                            hi = mid;
                        }
                    }
                    ids.add("z" + lo);
                }
            }
        }
        return ids.subList(0, n);
    }

    private static int[] shuffled(int n, Rng rng) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int x = a[i];
            a[i] = a[j];
            a[j] = x;
        }
        return a;
    }

    /** The select step plus a simulated generate-score-pair loop that answers after a delay. */
    static final class Simulation {
        final SelectConfig config;
        KeyedTwoInputStreamOperatorTestHarness<String, Prompt, MemoryUpdate, GenerationRequest> h;
        SelectFunction fn;
        final Rng rng = new Rng(7);
        /** Memory updates on their way back: (due arrival, update). */
        final ArrayDeque<Object[]> pending = new ArrayDeque<>();
        final Map<String, Integer> reusesSinceUpdate = new HashMap<>();
        final List<Boolean> regenerated = new ArrayList<>();
        int arrivals;
        int inFlightSkips;
        int maxReusesSeen;
        long maxStalenessSeen;
        /** Newest version the select step has received: what its staleness is measured against. */
        long newestVersionDelivered;

        Simulation(SelectConfig config) throws Exception {
            this.config = config;
            h = harness();
            h.open();
        }

        KeyedTwoInputStreamOperatorTestHarness<String, Prompt, MemoryUpdate, GenerationRequest> harness() throws Exception {
            fn = new SelectFunction(config);
            return new KeyedTwoInputStreamOperatorTestHarness<>(new KeyedCoProcessOperator<>(fn), Prompt::id,
                    MemoryUpdate::promptId, Types.STRING);
        }

        long version() {
            return arrivals / VERSION_EVERY;
        }

        /** Latent quality of a prompt: the reward its generations get, with noise. */
        static double difficulty(String id) {
            return Rng.derive(42, id.hashCode()).nextDouble();
        }

        void arrive(String id) throws Exception {
            deliver();
            h.setProcessingTime(arrivals);
            Prompt p = new Prompt(id, "req-" + arrivals, "copy ab=", List.of(), "", arrivals);
            h.processElement1(new StreamRecord<>(p));
            arrivals++;
            List<GenerationRequest> out = h.extractOutputValues();
            var reusedQueue = h.getSideOutput(SelectFunction.REUSED_PAIRS);
            var ledgerQueue = h.getSideOutput(PromptOutcome.LEDGER);
            List<PreferencePair> reused = reusedQueue == null ? List.of() : reusedQueue.stream().map(r -> (PreferencePair) r.getValue()).toList();
            int ledger = ledgerQueue == null ? 0 : ledgerQueue.size();
            int newOut = out.size();
            int newReused = reused.size();
            int newLedger = ledger;
            assertThat(newOut + newReused + newLedger).as("each arrival ends exactly once").isEqualTo(1);
            h.getOutput().clear();
            if (reusedQueue != null) {
                reusedQueue.clear();
            }
            boolean skipped = newLedger == 1
                    && SelectFunction.IN_FLIGHT_REASON.equals(((PromptOutcome) ledgerQueue.peek().getValue()).reason());
            if (ledgerQueue != null) {
                ledgerQueue.clear();
            }
            if (skipped) {
                inFlightSkips++;
                return; // not a choice: outside the share (see StreamSelector)
            }
            regenerated.add(newOut == 1);
            if (newOut == 1) {
                GenerationRequest r = out.get(out.size() - 1);
                double reward = Math.min(1, Math.max(0, difficulty(id) + 0.1 * rng.nextGaussian() + 0.0001 * version()));
                StoredPair m = OperatorTestSupport.stored("rev ab=", "good", Math.max(reward, 0.5), "bad", 0.0, reward, version());
                int delay = 20 + rng.nextInt(40);
                pending.add(new Object[] {arrivals + delay, new MemoryUpdate(id, m)});
            } else if (newReused == 1) {
                PreferencePair pair = reused.get(reused.size() - 1);
                int n = reusesSinceUpdate.merge(id, 1, Integer::sum);
                maxReusesSeen = Math.max(maxReusesSeen, n);
                maxStalenessSeen = Math.max(maxStalenessSeen, newestVersionDelivered - pair.policyVersion());
            }
        }

        void deliver() throws Exception {
            // The feedback edge delivers in order of due time; delays differ, so sort the due ones.
            List<Object[]> due = new ArrayList<>();
            pending.removeIf(e -> {
                if ((int) e[0] <= arrivals) {
                    due.add(e);
                    return true;
                }
                return false;
            });
            for (Object[] e : due) {
                MemoryUpdate u = (MemoryUpdate) e[1];
                h.processElement2(new StreamRecord<>(u));
                reusesSinceUpdate.remove(u.promptId());
                newestVersionDelivered = Math.max(newestVersionDelivered, u.memory().policyVersion());
            }
        }

        /** Snapshot, close, and continue in a fresh harness restored from it. */
        void restart() throws Exception {
            OperatorSubtaskState snapshot = h.snapshot(1L, arrivals);
            h.close();
            h = harness();
            h.initializeState(snapshot);
            h.open();
        }

        /** Worst deviation of the regenerated share from rho over sliding windows of 1,000 arrivals after warm-up. */
        double worstWindowError(double rho) {
            int w = StreamSelector.REALISED_WINDOW;
            int count = 0;
            double worst = 0;
            for (int i = 0; i < regenerated.size(); i++) {
                count += regenerated.get(i) ? 1 : 0;
                if (i >= w) {
                    count -= regenerated.get(i - w) ? 1 : 0;
                }
                if (i >= WARM_UP + w - 1) {
                    worst = Math.max(worst, Math.abs((double) count / w - rho));
                }
            }
            return worst;
        }
    }

    static SelectConfig config(SelectionStrategy strategy, double rho) {
        return SelectConfig.builder(strategy, rho).rankedPrompts(1024)
                .limits(new StreamSelector.Limits(MAX_REUSES, MAX_STALENESS))
                .inFlightTimeout(java.time.Duration.ofDays(1)).build();
    }

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (Traffic t : Traffic.values()) {
            for (SelectionStrategy s : List.of(SelectionStrategy.OPTUNE, SelectionStrategy.RANDOM)) {
                for (double rho : new double[] {0.25, 0.5, 0.75}) {
                    all.add(Arguments.of(t, s, rho));
                }
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} {1} rho {2}")
    @MethodSource("cases")
    void realisedShareTracksRhoAndCapsHold(Traffic traffic, SelectionStrategy strategy, double rho) throws Exception {
        Simulation sim = new Simulation(config(strategy, rho));
        for (String id : traffic(traffic, ARRIVALS, 11)) {
            sim.arrive(id);
        }
        System.out.printf("%s %s rho %.2f: worst window error %.3f, max reuses %d, max staleness %d, in-flight skips %d of %d%n",
                traffic, strategy, rho, sim.worstWindowError(rho), sim.maxReusesSeen, sim.maxStalenessSeen, sim.inFlightSkips, ARRIVALS);
        assertThat(sim.worstWindowError(rho)).as("worst 1,000-arrival share error").isLessThanOrEqualTo(0.05);
        assertThat(sim.maxReusesSeen).isLessThanOrEqualTo(MAX_REUSES);
        assertThat(sim.maxStalenessSeen).isLessThanOrEqualTo(MAX_STALENESS);
        sim.h.close();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("restoreCases")
    void guaranteesHoldAcrossARestoreMidStream(Traffic traffic, SelectionStrategy strategy) throws Exception {
        Simulation sim = new Simulation(config(strategy, 0.5));
        List<String> ids = traffic(traffic, ARRIVALS, 13);
        for (int i = 0; i < ids.size(); i++) {
            if (i == ARRIVALS / 2) {
                double realised = sim.fn.selector().realisedRho();
                sim.restart();
                assertThat(sim.fn.selector().realisedRho())
                        .as("the realised window survives the restart").isEqualTo(realised);
            }
            sim.arrive(ids.get(i));
        }
        assertThat(sim.worstWindowError(0.5)).isLessThanOrEqualTo(0.05);
        assertThat(sim.maxReusesSeen).isLessThanOrEqualTo(MAX_REUSES);
        assertThat(sim.maxStalenessSeen).isLessThanOrEqualTo(MAX_STALENESS);
        sim.h.close();
    }

    static Stream<Arguments> restoreCases() {
        return Stream.of(Arguments.of(Traffic.ZIPF, SelectionStrategy.OPTUNE), Arguments.of(Traffic.BURSTY, SelectionStrategy.RANDOM));
    }

    @Test
    void optuneRegeneratesTheLowerScoringPrompts() throws Exception {
        // Without caps: the ranking alone decides (with caps, pairs nearing them are regenerated too).
        Simulation sim = new Simulation(SelectConfig.builder(SelectionStrategy.OPTUNE, 0.25).rankedPrompts(1024)
                .inFlightTimeout(java.time.Duration.ofDays(1)).build());
        List<String> ids = traffic(Traffic.RECURRING, ARRIVALS, 17);
        double regenSum = 0;
        int regenN = 0;
        double reuseSum = 0;
        int reuseN = 0;
        for (int i = 0; i < ids.size(); i++) {
            int before = sim.regenerated.size();
            sim.arrive(ids.get(i));
            if (i >= WARM_UP && !ids.get(i).startsWith("new") && sim.regenerated.size() > before) {
                if (sim.regenerated.get(before)) {
                    regenSum += Simulation.difficulty(ids.get(i));
                    regenN++;
                } else {
                    reuseSum += Simulation.difficulty(ids.get(i));
                    reuseN++;
                }
            }
        }
        // Uniform latent rewards: random selection would give equal means (0.5 each).
        assertThat(regenSum / regenN).isLessThan(0.25);
        assertThat(reuseSum / reuseN).isGreaterThan(0.5);
        sim.h.close();
    }
}
