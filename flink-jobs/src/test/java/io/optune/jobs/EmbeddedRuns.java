package io.optune.jobs;

import org.apache.flink.configuration.Configuration;

import java.nio.file.Path;

/** Configuration of an embedded run for tests: the shipped conf/optune.yaml, a run directory, overrides. */
final class EmbeddedRuns {
    private EmbeddedRuns() {}

    static Configuration config(Path runDir, String... overrides) throws Exception {
        // Any free port for the dashboard: tests may run beside a user's run on 8081. The tests were
        // tuned on a small, fast-recurring pool at a rate the trainer keeps up with (not the demo's feed).
        String[] args = new String[10 + overrides.length];
        args[0] = "--conf";
        args[1] = "../conf/optune.yaml";
        args[2] = "--optune.embedded.run-dir";
        args[3] = runDir.toString();
        args[4] = "--optune.embedded.dashboard-port";
        args[5] = "0";
        args[6] = "--optune.source.builtin.pool-size";
        args[7] = "512";
        args[8] = "--optune.source.builtin.prompts-per-second";
        args[9] = "250";
        System.arraycopy(overrides, 0, args, 10, overrides.length);
        return JobConfig.load(args);
    }
}
