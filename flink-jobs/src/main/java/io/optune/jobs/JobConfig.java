package io.optune.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.util.ParameterTool;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads the job's configuration once: a YAML file (nested or flat keys; {@code --conf PATH}, default
 * {@code conf/optune.yaml} when present) overridden by command-line {@code --key value} pairs.
 * Keys outside {@code optune.} are Flink's own and are handed to the execution environment.
 */
public final class JobConfig {
    public static final String DEFAULT_FILE = "conf/optune.yaml";

    private JobConfig() {}

    public static Configuration load(String[] args) throws IOException {
        // Arguments may arrive as one string (from a build tool property): split on white space.
        String[] split = String.join(" ", args).trim().isEmpty() ? new String[0] : String.join(" ", args).trim().split("\\s+");
        ParameterTool cli = ParameterTool.fromArgs(split);
        Map<String, String> values = new LinkedHashMap<>();
        String file = cli.get("conf", Files.exists(Path.of(DEFAULT_FILE)) ? DEFAULT_FILE : null);
        if (file != null) {
            values.putAll(readYaml(Path.of(file)));
        }
        values.putAll(kafkaPropertiesFromEnvironment(System.getenv()));
        cli.toMap().forEach((k, v) -> {
            if (!k.equals("conf")) {
                values.put(k, v);
            }
        });
        Configuration conf = Configuration.fromMap(values);
        validate(conf);
        return conf;
    }

    /** Environment prefix of Kafka client properties (secrets mounted as environment variables). */
    public static final String KAFKA_ENV_PREFIX = "OPTUNE_KAFKA_PROPERTY_";

    /**
     * {@code OPTUNE_KAFKA_PROPERTY_SASL_JAAS_CONFIG=...} becomes {@code optune.kafka.properties.sasl.jaas.config}:
     * credentials come from a Kubernetes Secret without appearing in arguments or configuration files.
     */
    static Map<String, String> kafkaPropertiesFromEnvironment(Map<String, String> env) {
        Map<String, String> out = new LinkedHashMap<>();
        env.forEach((k, v) -> {
            if (k.startsWith(KAFKA_ENV_PREFIX) && k.length() > KAFKA_ENV_PREFIX.length()) {
                String name = k.substring(KAFKA_ENV_PREFIX.length()).toLowerCase(java.util.Locale.ROOT).replace('_', '.');
                out.put(OptuneOptions.KAFKA_PROPERTIES_PREFIX + name, v);
            }
        });
        return out;
    }

    /** The pass-through Kafka client properties ({@code optune.kafka.properties.*}, prefix removed). */
    public static java.util.Properties kafkaProperties(Configuration conf) {
        java.util.Properties p = new java.util.Properties();
        conf.toMap().forEach((k, v) -> {
            if (k.startsWith(OptuneOptions.KAFKA_PROPERTIES_PREFIX)) {
                p.setProperty(k.substring(OptuneOptions.KAFKA_PROPERTIES_PREFIX.length()), v);
            }
        });
        return p;
    }

    static Map<String, String> readYaml(Path file) throws IOException {
        if (!Files.exists(file)) {
            throw new IOException("configuration file " + file.toAbsolutePath() + " does not exist");
        }
        Map<?, ?> tree = new ObjectMapper(new YAMLFactory()).readValue(file.toFile(), Map.class);
        Map<String, String> flat = new LinkedHashMap<>();
        if (tree != null) {
            flatten("", tree, flat);
        }
        return flat;
    }

    private static void flatten(String prefix, Map<?, ?> tree, Map<String, String> out) {
        tree.forEach((k, v) -> {
            String key = prefix.isEmpty() ? String.valueOf(k) : prefix + "." + k;
            if (v instanceof Map) {
                flatten(key, (Map<?, ?>) v, out);
            } else if (v != null) {
                out.put(key, String.valueOf(v));
            }
        });
    }

    /** Refuses unknown optune.* keys (typos) and reads every option once so bad values fail early. */
    static void validate(Configuration conf) {
        Map<String, org.apache.flink.configuration.ConfigOption<?>> known = new LinkedHashMap<>();
        OptuneOptions.all().forEach(o -> known.put(o.key(), o));
        for (String key : conf.keySet()) {
            if (key.startsWith("optune.") && !known.containsKey(key) && !key.startsWith(OptuneOptions.KAFKA_PROPERTIES_PREFIX)) {
                throw new IllegalArgumentException("unknown option '" + key + "' (see conf/optune.yaml for the documented options)");
            }
        }
        for (var option : known.values()) {
            try {
                conf.getOptional(option);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("invalid value for " + option.key() + ": " + e.getMessage(), e);
            }
        }
        double rho = conf.get(OptuneOptions.SELECT_RHO);
        if (rho < 0 || rho > 1) {
            throw new IllegalArgumentException("optune.select.rho must be in [0, 1], got " + rho);
        }
        if (conf.get(OptuneOptions.SOURCE_TYPE) == OptuneOptions.SourceType.KAFKA
                && (conf.getOptional(OptuneOptions.KAFKA_BOOTSTRAP).isEmpty()
                        || conf.getOptional(OptuneOptions.KAFKA_PROMPTS_TOPIC).isEmpty() == conf.getOptional(OptuneOptions.KAFKA_PROMPTS_PATTERN).isEmpty())) {
            throw new IllegalArgumentException("optune.source.type KAFKA needs optune.kafka.bootstrap-servers and either "
                    + "optune.kafka.prompts.topic or optune.kafka.prompts.topic-pattern");
        }
        if (conf.getOptional(OptuneOptions.KAFKA_UPDATES_TOPIC).isPresent() && conf.getOptional(OptuneOptions.KAFKA_BOOTSTRAP).isEmpty()) {
            throw new IllegalArgumentException("optune.kafka.updates.topic needs optune.kafka.bootstrap-servers");
        }
        if (conf.get(OptuneOptions.SAMPLES) < 2) {
            throw new IllegalArgumentException("optune.generate.samples-per-prompt must be >= 2 to form pairs");
        }
    }
}
