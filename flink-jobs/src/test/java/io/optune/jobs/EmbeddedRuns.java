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
        List<String> args = new ArrayList<>(List.of(
                "--conf", "../" + JobConfig.DEFAULT_FILE,
                "--flink-conf", "../" + JobConfig.EMBEDDED_FLINK_FILE,
                "--optune.embedded.run-dir", runDir.toString()));
        args.addAll(List.of(overrides));
        return JobConfig.load(args.toArray(new String[0]));
    }
}
