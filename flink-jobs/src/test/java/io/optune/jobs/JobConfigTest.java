package io.optune.jobs;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The job's options kept apart from Flink's settings, arguments taken as given, and --help. */
class JobConfigTest {
    static final String OPTIONS = "../" + JobConfig.DEFAULT_FILE;
    static final String EMBEDDED_FLINK = "../" + JobConfig.EMBEDDED_FLINK_FILE;
    static final String JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"svc\" "
            + "password=\"two  spaces\tand a tab\";";

    @TempDir
    Path dir;

    @Test
    void aClusterJobGetsNoFlinkSettingsFromTheShippedOptionsFile() throws Exception {
        Configuration conf = JobConfig.forCluster(new String[] {"--conf", OPTIONS, "--optune.select.rho", "0.25"});
        assertThat(conf.keySet()).isNotEmpty().allSatisfy(k -> assertThat(k).startsWith("optune."));
        assertThat(conf.get(OptuneOptions.SELECT_RHO)).isEqualTo("0.25");
    }

    @Test
    void theEmbeddedRunReadsItsOwnFlinkFile() throws Exception {
        Configuration conf = JobConfig.load(new String[] {"--conf", OPTIONS, "--flink-conf", EMBEDDED_FLINK,
            "--execution.checkpointing.interval", "3s"});
        assertThat(conf.get(RestartStrategyOptions.RESTART_STRATEGY)).isEqualTo("fixed-delay");
        assertThat(conf.get(CheckpointingOptions.CHECKPOINTING_INTERVAL)).as("the command line wins").isEqualTo(Duration.ofSeconds(3));
        assertThat(conf.get(OptuneOptions.BATCH_SIZE)).isEqualTo(16);
        assertThat(JobConfig.readYaml(Path.of(EMBEDDED_FLINK)).keySet()).isNotEmpty()
                .allSatisfy(k -> assertThat(k).doesNotStartWith("optune."));
    }

    @Test
    void aFlinkKeyInTheOptionsFileIsRefusedWithWhereItBelongs() throws Exception {
        Path file = Files.writeString(dir.resolve("optune.yaml"), "restart-strategy.type: fixed-delay\noptune:\n  seed: 2\n");
        for (var load : java.util.List.<ThrowingLoad>of(JobConfig::load, JobConfig::forCluster)) {
            assertThatThrownBy(() -> load.apply(new String[] {"--conf", file.toString()}))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'restart-strategy.type' is a Flink setting")
                    .hasMessageContaining("-Drestart-strategy.type=<value>")
                    .hasMessageContaining(JobConfig.EMBEDDED_FLINK_FILE);
        }
    }

    @Test
    void aClusterJobRefusesFlinkKeysOnItsCommandLine() {
        assertThatThrownBy(() -> JobConfig.forCluster(new String[] {"--conf", OPTIONS, "--execution.checkpointing.interval", "2s"}))
                .hasMessageContaining("pass it to flink run as -Dexecution.checkpointing.interval=<value>");
        assertThatThrownBy(() -> JobConfig.forCluster(new String[] {"--conf", OPTIONS, "--flink-conf", EMBEDDED_FLINK}))
                .hasMessageContaining("embedded run");
    }

    @Test
    void aJobOptionInTheEmbeddedFlinkFileIsRefused() throws Exception {
        Path file = Files.writeString(dir.resolve("flink.yaml"), "state.backend.type: rocksdb\noptune.select.rho: 0.3\n");
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", OPTIONS, "--flink-conf", file.toString()}))
                .hasMessageContaining("'optune.select.rho' is a job option");
    }

    @Test
    void valuesWithSpacesArriveIntact() throws Exception {
        String key = OptuneOptions.KAFKA_PROPERTIES_PREFIX + "sasl.jaas.config";
        for (var load : java.util.List.<ThrowingLoad>of(JobConfig::load, JobConfig::forCluster)) {
            Configuration conf = load.apply(new String[] {"--conf", OPTIONS, "--" + key, JAAS, "--optune.select.rho", "0.3"});
            assertThat(conf.getString(key, null)).isEqualTo(JAAS);
            assertThat(JobConfig.kafkaProperties(conf)).containsEntry("sasl.jaas.config", JAAS);
            assertThat(conf.get(OptuneOptions.SELECT_RHO)).isEqualTo("0.3");
        }
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", OPTIONS, "--optune.select.rho"}))
                .hasMessageContaining("--optune.select.rho needs a value");
    }

    @Test
    void helpListsEveryOptionWithItsDefaultAndDescription() {
        String embedded = JobConfig.help(JobConfig.Entry.EMBEDDED);
        String cluster = JobConfig.help(JobConfig.Entry.CLUSTER);
        for (ConfigOption<?> o : OptuneOptions.all()) {
            String entry = "  --" + o.key() + "  [" + JobConfig.defaultText(o) + "]\n      " + JobConfig.descriptionText(o) + "\n";
            assertThat(JobConfig.descriptionText(o)).as(o.key()).isNotBlank();
            assertThat(embedded).contains(entry);
            if (!o.key().startsWith("optune.embedded.") || o == OptuneOptions.SFT_STEPS) {
                assertThat(cluster).contains(entry);
            } else {
                assertThat(cluster).as("embedded-only option in the cluster help").doesNotContain("--" + o.key() + " ");
            }
        }
        assertThat(embedded).contains("  --optune.generate.max-delay  [100 ms]\n")
                .contains("  --optune.select.strategy  [OPTUNE]\n      OPTUNE: regenerate known prompts");
        assertThat(cluster).startsWith("Usage: flink run").contains("-D");
    }

    @Test
    void bothEntryPointsAnswerHelpWithoutStarting() throws Exception {
        assertThat(run(() -> OptuneJob.main(new String[] {"--help"}))).isEqualTo(JobConfig.help(JobConfig.Entry.CLUSTER));
        assertThat(run(() -> EmbeddedMain.main(new String[] {"--conf", OPTIONS, "-h"}))).isEqualTo(JobConfig.help(JobConfig.Entry.EMBEDDED));
        assertThat(JobConfig.printHelpIfAsked(new String[] {"--optune.seed", "2"}, JobConfig.Entry.EMBEDDED, System.out)).isFalse();
    }

    private interface ThrowingLoad {
        Configuration apply(String[] args) throws Exception;
    }

    private interface Main {
        void run() throws Exception;
    }

    private static String run(Main main) throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            main.run();
        } finally {
            System.setOut(old);
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }
}
