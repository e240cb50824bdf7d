package io.optune.jobs;

import io.optune.operators.faults.FaultInjection;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.train.Publication;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole loop survives a crash at each step of the data path. A fixed built-in feed (2,500
 * arrivals with request ids) runs through the embedded job while one {@link FaultInjection} point
 * throws once; Flink restarts every task from the last checkpoint. Afterwards:
 *
 * <ul>
 *   <li>the committed prompt ledger holds exactly one outcome per arrival (none lost, none twice);
 *   <li>committed trainer steps are 1..n, once each: the trainer resumed at its checkpointed step;
 *   <li>with publication on checkpoints (the trainer fault), every visible version's step is past
 *       the previous one's: no version a consumer saw was trained again;
 *   <li>weight-log versions are unique and gap-free in the log's history; the log keeps the newest
 *       {@value #RETAIN} (retention prunes the rest while faults happen), and every one of those loads
 *       and verifies.
 * </ul>
 */
class FaultRecoveryITCase {
    static final int FEED = 2500;
    static final int BATCH = 16;
    static final long SEED = 7;
    static final int RETAIN = 3;

    @TempDir
    Path dir;

    @AfterEach
    void disarm() {
        FaultInjection.reset();
    }

    @ParameterizedTest(name = "{0} fails on check {1}")
    // A fault-free run of this feed checks INGEST 2,500 times, GENERATE ~50, SCORE ~790, TRAIN ~57 and
    // PUBLISH ~6 (measured 2026-11-27): each count sits well inside it, so the fault fires on a slower
    // machine too (SCORE 800 and TRAIN 60 once did not fire in CI: only replays had reached them).
    // The trainer fault runs with publication on checkpoints: there no visible version may be redone.
    @CsvSource({
        "INGEST, 1500, IMMEDIATE",     // a prompt record, about 6 s into the feed
        "GENERATE, 20, IMMEDIATE",     // a sampled micro-batch, before it is emitted
        "SCORE, 300, IMMEDIATE",       // a generation whose rewards came back
        "TRAIN, 25, ON_CHECKPOINT",    // after an optimizer step changed the weights, before it was recorded
        "PUBLISH, 3, IMMEDIATE",       // a snapshot written, its announcement not yet
    })
    void everyArrivalIsAccountedForOnceAfterAFailure(FaultInjection.Point point, long n, Publication publication) throws Exception {
        FaultInjection.reset();
        FaultInjection.arm(point, n);
        long t0 = System.currentTimeMillis();
        EmbeddedMain.Summary s = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"),
            "--optune.seed", String.valueOf(SEED),
            "--optune.source.builtin.count", String.valueOf(FEED),
            "--optune.batch.size", String.valueOf(BATCH),
            "--optune.embedded.duration", "45s",
            "--optune.embedded.sft-steps", "300",
            "--optune.embedded.progress-interval", "15s",
            "--optune.train.held-out-size", "32",
            "--optune.train.publish-every", "10",
            "--optune.weights.retain-versions", String.valueOf(RETAIN),
            "--optune.weights.publication", publication.name()));

        assertThat(FaultInjection.fired(point))
                .as("the fault fired (%s checked %d times, armed for %d)", point, FaultInjection.checks(point), n)
                .isTrue();
        long firedAt = FaultInjection.firedAt(point);

        List<PromptOutcome> ledger = Ledgers.committed(dir.resolve("run/ledger"));
        Ledgers.assertAccountsForBuiltinFeed(ledger, SEED, FEED, BATCH);
        long resumedAt = ledger.stream().filter(o -> o.outcome() == PromptOutcome.Outcome.TRAINED && o.time() > firedAt)
                .mapToLong(PromptOutcome::time).min().orElseThrow();
        System.out.printf("[fault %s] %d arrivals, outcomes %s; failure at +%.1f s, training resumed %.1f s later; %d versions%n",
                point, ledger.size(), Ledgers.tally(ledger), (firedAt - t0) / 1e3, (resumedAt - firedAt) / 1e3, s.versions().size());

        List<PolicyUpdate> versions = s.versions();
        assertThat(versions.size()).isGreaterThan(3);
        if (publication == Publication.ON_CHECKPOINT) {
            // Each visible version was trained past the one before it: none is a step the recovery trained again.
            for (int i = 1; i < versions.size(); i++) {
                assertThat(versions.get(i).step()).as("step of version %d", i).isGreaterThan(versions.get(i - 1).step());
            }
        }
        WeightLogs.assertGapFreeAndLoadable(versions, s.weightLog(), RETAIN);
    }
}
