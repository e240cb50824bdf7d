package io.optune.jobs;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class OptuneOptionsTest {
    @Test
    void everyOptionHasAUniquePrefixedKeyAndADescription() {
        Set<String> keys = new HashSet<>();
        for (ConfigOption<?> o : OptuneOptions.all()) {
            assertThat(o.key()).startsWith("optune.").matches("[a-z0-9.\\-]+");
            assertThat(keys.add(o.key())).as("duplicate key %s", o.key()).isTrue();
            assertThat(o.description().toString()).as(o.key()).isNotBlank();
        }
        assertThat(keys).hasSizeGreaterThan(30);
    }

    @Test
    void theShippedConfigurationFileHoldsOnlyKnownOptionsAndDocumentsEachOne() throws Exception {
        Path file = Path.of("..", "conf", "optune.yaml");
        Map<String, String> values = JobConfig.readYaml(file);
        assertThat(values.keySet()).as("job options only: Flink's settings belong to the cluster or conf/embedded/flink.yaml")
                .allSatisfy(k -> assertThat(k).startsWith("optune."));
        JobConfig.validate(Configuration.fromMap(values));
        Set<String> documented = values.keySet();
        for (ConfigOption<?> o : OptuneOptions.all()) {
            if (!o.hasDefaultValue()) {
                continue; // optional or derived at run time: commented examples in the file
            }
            assertThat(documented).as("conf/optune.yaml lists %s", o.key()).contains(o.key());
        }
    }

    @Test
    void engineDevicesAreCheckedForFormWithoutStartingTheEngine() throws Exception {
        Configuration c = JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.engine.train-device", "gpu:1"});
        assertThat(c.get(OptuneOptions.ENGINE_DEVICE)).isEqualTo("cpu");
        assertThat(OptuneTopology.device(c, OptuneOptions.TRAIN_DEVICE)).isEqualTo("gpu:1");
        assertThat(OptuneTopology.device(c, OptuneOptions.GENERATE_DEVICE)).isEqualTo("cpu");
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.engine.device", "gpu1"}))
                .hasMessageContaining("invalid value for optune.engine.device").hasMessageContaining("unknown device 'gpu1'");
    }

    @Test
    void kafkaCredentialsComeFromTheEnvironment() {
        Map<String, String> props = JobConfig.kafkaPropertiesFromEnvironment(Map.of(
                "OPTUNE_KAFKA_PROPERTY_SASL_JAAS_CONFIG", "secret", "OPTUNE_KAFKA_PROPERTY_SECURITY_PROTOCOL", "SASL_SSL", "PATH", "/bin"));
        assertThat(props).containsOnly(Map.entry("optune.kafka.properties.sasl.jaas.config", "secret"),
                Map.entry("optune.kafka.properties.security.protocol", "SASL_SSL"));
        assertThat(JobConfig.kafkaProperties(Configuration.fromMap(props)))
                .containsEntry("sasl.jaas.config", "secret").containsEntry("security.protocol", "SASL_SSL");
    }

    @Test
    void commandLineOverridesTheFileAndTyposAreRefused() throws Exception {
        Configuration c = JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.select.rho", "0.25"});
        assertThat(c.get(OptuneOptions.SELECT_RHO)).isEqualTo("0.25");
        assertThat(c.get(OptuneOptions.BATCH_SIZE)).isEqualTo(16);
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.select.rh", "0.2"}))
                .hasMessageContaining("unknown option 'optune.select.rh'");
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.select.rho", "2"}))
                .hasMessageContaining("rho");
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.generate.temperature", "hot"}))
                .hasMessageContaining("optune.generate.temperature");
    }

    @Test
    void rhoIsAShareOrAuto() throws Exception {
        Configuration auto = JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.select.rho", "auto"});
        assertThat(OptuneOptions.fixedRho(auto)).isEmpty();
        assertThat(OptuneTopology.selectConfig(auto, 1L).autoRho()).isNotNull();
        Configuration fixed = JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.select.rho", "0.25"});
        assertThat(OptuneOptions.fixedRho(fixed).getAsDouble()).isEqualTo(0.25);
        assertThat(OptuneTopology.selectConfig(fixed, 1L).autoRho()).isNull();
        assertThat(OptuneTopology.selectConfig(fixed, 1L).limits().maxReuses()).isEqualTo(8);
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.select.rho", "half"}))
                .hasMessageContaining("a number in [0, 1] or auto");
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.select.rho", "auto",
                "--optune.select.strategy", "ALL"})).hasMessageContaining("OPTUNE or RANDOM");
    }
}
