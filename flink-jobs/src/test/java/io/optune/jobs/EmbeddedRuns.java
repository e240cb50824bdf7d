package io.optune.jobs;

import org.apache.flink.configuration.Configuration;

import java.nio.file.Path;

/** Configuration of an embedded run for tests: the shipped conf/optune.yaml, a run directory, overrides. */
final class EmbeddedRuns {
    private EmbeddedRuns() {}

    static Configuration config(Path runDir, String... overrides) throws Exception {
        String[] args = new String[4 + overrides.length];
        args[0] = "--conf";
        args[1] = "../conf/optune.yaml";
        args[2] = "--optune.embedded.run-dir";
        args[3] = runDir.toString();
        System.arraycopy(overrides, 0, args, 4, overrides.length);
        return JobConfig.load(args);
    }
}
