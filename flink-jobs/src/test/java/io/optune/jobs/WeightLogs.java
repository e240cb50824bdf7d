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
                    if (Files.exists(weights.resolve(FileSystemWeightLog.ANNOUNCEMENTS)) && log.versions().size() >= versions) {
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

    /** Versions are 0..n without gaps or repeats, and every one verifies against its manifest and loads as a Hugging Face checkpoint. */
    static void assertGapFreeAndLoadable(List<PolicyUpdate> versions, String weightLog) throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(weightLog).build();
        try (NDManager m = NDManager.newBaseManager()) {
            for (int i = 0; i < versions.size(); i++) {
                PolicyUpdate v = versions.get(i);
                assertThat(v.version()).isEqualTo(i);
                try (VerifiedVersion files = log.readVerified(v)) {
                    PolicyDirectory.load(files.dir(), m).model().close();
                }
            }
        }
    }
}
