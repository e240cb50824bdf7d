package io.optune.jobs;

import org.apache.flink.configuration.Configuration;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Configuration of an embedded run for tests: the shipped conf/optune.yaml and conf/embedded/flink.yaml
 * (tests run in flink-jobs/, where the defaults are not found), a run directory, overrides.
 */
final class EmbeddedRuns {
    private EmbeddedRuns() {}

    static Configuration config(Path runDir, String... overrides) throws Exception {
        // Any free port for the dashboard: tests may run beside a user's run on 8081. The tests were
        // tuned on a small, fast-recurring pool at a rate the trainer keeps up with (not the demo's feed).
        List<String> args = new ArrayList<>(List.of(
                "--conf", "../" + JobConfig.DEFAULT_FILE,
                "--flink-conf", "../" + JobConfig.EMBEDDED_FLINK_FILE,
                "--optune.embedded.run-dir", runDir.toString(),
                "--optune.embedded.dashboard-port", "0",
                "--optune.source.builtin.pool-size", "512",
                "--optune.source.builtin.prompts-per-second", "250"));
        args.addAll(List.of(overrides));
        return JobConfig.load(args.toArray(new String[0]));
    }
}
