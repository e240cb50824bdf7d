package io.optune.jobs;

import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PromptOutcome;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.util.TestStreamEnvironment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A TaskManager-wide loss: the only TaskManager (every task of the loop, its RocksDB instances and
 * the DJL engines) is terminated mid-run and a fresh one joins. The job restarts on it from the
 * last checkpoint, and the committed ledger still accounts for every arrival exactly once.
 */
class TaskManagerLossITCase {
    static final int FEED = 2500;
    static final long SEED = 3;

    @TempDir
    Path dir;

    @Test
    void theLoopRecoversOnAFreshTaskManager() throws Exception {
        Configuration conf = new Configuration();
        conf.setString("rest.port", "0"); // a free port: 8081 may be taken (a dashboard, another run)
        MiniCluster cluster = new MiniCluster(new MiniClusterConfiguration.Builder()
                .setConfiguration(conf)
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(2)
                .build());
        cluster.start();
        TestStreamEnvironment.setAsContext(cluster, 1);
        Path weights = dir.resolve("weights");
        AtomicLong lostAt = new AtomicLong();
        try {
            Thread killer = WeightLogs.whenVersions(weights, 4, "taskmanager-killer", () -> {
                lostAt.set(System.currentTimeMillis());
                cluster.terminateTaskManager(0).get();
                cluster.startTaskManager();
            });
            EmbeddedMain.Summary s = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"),
                "--optune.seed", String.valueOf(SEED),
                "--optune.weights.path", weights.toUri().toString(),
                "--optune.source.builtin.count", String.valueOf(FEED),
                "--optune.embedded.duration", "45s",
                "--optune.embedded.sft-steps", "300",
                "--optune.train.held-out-size", "32",
                "--optune.train.publish-every", "10"));
            killer.join();
            assertThat(lostAt.get()).as("the TaskManager was lost mid-run").isPositive();
            assertThat(s.savepoint()).isNotNull();

            List<PromptOutcome> ledger = Ledgers.committed(dir.resolve("run/ledger"));
            Ledgers.assertAccountsForBuiltinFeed(ledger, SEED, FEED, 16);
            long resumedAt = ledger.stream().filter(o -> o.outcome() == PromptOutcome.Outcome.TRAINED && o.time() > lostAt.get())
                    .mapToLong(PromptOutcome::time).min().orElseThrow();
            System.out.printf("[taskmanager loss] %d arrivals, outcomes %s; training resumed %.1f s after the loss%n",
                    ledger.size(), Ledgers.tally(ledger), (resumedAt - lostAt.get()) / 1e3);
            List<PolicyUpdate> versions = s.versions();
            for (int i = 0; i < versions.size(); i++) {
                assertThat(versions.get(i).version()).isEqualTo(i);
            }
        } finally {
            TestStreamEnvironment.unsetAsContext();
            cluster.close();
        }
    }
}
