package io.optune.jobs;

import ai.djl.ndarray.NDManager;
import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.records.PolicyUpdate;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Weight-log checks and triggers shared by the recovery tests. */
final class WeightLogs {
    private WeightLogs() {}

    /** Something a test does to the running job (kill a TaskManager, restart the broker). */
    interface Fault {
        void inject() throws Exception;
    }

    /**
     * Starts a thread that runs {@code fault} once the weight log at {@code weights} holds
     * {@code versions} versions (training is under way), or gives up after two minutes.
     */
    static Thread whenVersions(Path weights, int versions, String name, Fault fault) {
        Thread t = new Thread(() -> {
            try {
                FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(weights.toUri().toString()).build();
                long deadline = System.currentTimeMillis() + 120_000;
                while (System.currentTimeMillis() < deadline) {
                    if (Files.exists(weights.resolve(FileSystemWeightLog.ANNOUNCEMENTS)) && log.history().size() >= versions) {
                        fault.inject();
                        return;
                    }
                    Thread.sleep(200);
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, name);
        t.start();
        return t;
    }

    /**
     * The history holds versions 0..n without gaps or repeats; the log still announces exactly the
     * versions its retention keeps, and every one of those verifies against its manifest and loads
     * as a Hugging Face checkpoint.
     */
    static void assertGapFreeAndLoadable(List<PolicyUpdate> history, String weightLog) throws Exception {
        assertGapFreeAndLoadable(history, weightLog, OptuneOptions.WEIGHTS_RETAIN.defaultValue());
    }

    /** As above, for a job that retained the newest {@code keep} versions. */
    static void assertGapFreeAndLoadable(List<PolicyUpdate> history, String weightLog, int keep) throws Exception {
        for (int i = 0; i < history.size(); i++) {
            assertThat(history.get(i).version()).isEqualTo(i);
        }
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(weightLog).build();
        List<PolicyUpdate> retained = log.versions();
        assertThat(retained).extracting(PolicyUpdate::version)
                .containsExactlyElementsOf(history.subList(Math.max(0, history.size() - keep), history.size())
                        .stream().map(PolicyUpdate::version).toList());
        try (NDManager m = NDManager.newBaseManager()) {
            for (PolicyUpdate v : retained) {
                try (VerifiedVersion files = log.readVerified(v)) {
                    PolicyDirectory.load(files.dir(), m).model().close();
                }
            }
        }
    }
}
