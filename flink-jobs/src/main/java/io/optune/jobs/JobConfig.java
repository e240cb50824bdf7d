package io.optune.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.description.BlockElement;
import org.apache.flink.configuration.description.TextElement;
import org.apache.flink.util.ParameterTool;
import org.apache.flink.util.TimeUtils;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the job's configuration once. The job's options file ({@code --conf PATH}, default
 * {@code conf/optune.yaml} when present; nested or flat keys) holds {@code optune.*} options only;
 * command-line {@code --key value} pairs override it. Flink's own settings come from elsewhere, so
 * that the embedded run's never reach a cluster job:
 * <ul>
 *   <li>the embedded run ({@link #load}) reads them from {@code conf/embedded/flink.yaml}
 *       ({@code --flink-conf PATH}) and its command line;</li>
 *   <li>a cluster job ({@link #forCluster}) takes them from the cluster and {@code flink run -D}, and
 *       refuses Flink keys in its arguments.</li>
 * </ul>
 * Arguments are taken as the shell gave them: a value may contain spaces (e.g. a JAAS configuration).
 */
public final class JobConfig {
    public static final String DEFAULT_FILE = "conf/optune.yaml";
    /** The embedded run's Flink settings (state backend, checkpoints, restarts); read by {@link #load} only. */
    public static final String EMBEDDED_FLINK_FILE = "conf/embedded/flink.yaml";
    static final String CONF_ARG = "conf";
    static final String FLINK_CONF_ARG = "flink-conf";
    /** What {@link ParameterTool} stores for a key given without a value (its constant is not public). */
    private static final String NO_VALUE = "__NO_VALUE_KEY";

    private JobConfig() {}

    /**
     * The embedded run's configuration: the Flink file, then the options file, then Kafka properties
     * from the environment, then the command line (which may also set Flink keys).
     */
    public static Configuration load(String[] args) throws IOException {
        ParameterTool cli = ParameterTool.fromArgs(args);
        Map<String, String> values = new LinkedHashMap<>();
        String flinkFile = cli.get(FLINK_CONF_ARG, Files.exists(Path.of(EMBEDDED_FLINK_FILE)) ? EMBEDDED_FLINK_FILE : null);
        if (flinkFile != null) {
            Map<String, String> flink = readYaml(Path.of(flinkFile));
            flink.keySet().stream().filter(k -> k.startsWith("optune.")).findFirst().ifPresent(k -> {
                throw new IllegalArgumentException(flinkFile + " holds Flink settings only; '" + k
                        + "' is a job option: put it in the options file (" + DEFAULT_FILE + ") or on the command line");
            });
            values.putAll(flink);
        }
        values.putAll(optionsFile(cli));
        values.putAll(kafkaPropertiesFromEnvironment(System.getenv()));
        values.putAll(commandLine(cli));
        Configuration conf = Configuration.fromMap(values);
        validate(conf);
        return conf;
    }

    /**
     * A cluster job's options: the options file, Kafka properties from the environment, then the
     * command line; {@code optune.*} keys only, since the cluster owns Flink's settings (its
     * config.yaml, or {@code -D} on {@code flink run}).
     */
    public static Configuration forCluster(String[] args) throws IOException {
        ParameterTool cli = ParameterTool.fromArgs(args);
        if (cli.has(FLINK_CONF_ARG)) {
            throw new IllegalArgumentException("--" + FLINK_CONF_ARG + " is for the embedded run; a cluster job takes Flink "
                    + "settings from the cluster's config.yaml or from -D<key>=<value> on flink run");
        }
        Map<String, String> values = new LinkedHashMap<>(optionsFile(cli));
        values.putAll(kafkaPropertiesFromEnvironment(System.getenv()));
        Map<String, String> given = commandLine(cli);
        given.keySet().stream().filter(k -> !k.startsWith("optune.")).findFirst().ifPresent(k -> {
            throw new IllegalArgumentException("'--" + k + "' is a Flink setting, not a job option: pass it to flink run as -D"
                    + k + "=<value> (before the jar) or set it in the cluster's config.yaml; the job's own arguments take "
                    + "optune.* options only");
        });
        values.putAll(given);
        Configuration conf = Configuration.fromMap(values);
        validate(conf);
        return conf;
    }

    /** The options file named by {@code --conf} (or the default one when present): optune.* keys only. */
    private static Map<String, String> optionsFile(ParameterTool cli) throws IOException {
        String file = cli.get(CONF_ARG, Files.exists(Path.of(DEFAULT_FILE)) ? DEFAULT_FILE : null);
        if (file == null) {
            return Map.of();
        }
        Map<String, String> values = readYaml(Path.of(file));
        values.keySet().stream().filter(k -> !k.startsWith("optune.")).findFirst().ifPresent(k -> {
            throw new IllegalArgumentException(file + " holds optune.* options only; '" + k + "' is a Flink setting: on a "
                    + "cluster set it in the cluster's config.yaml or pass -D" + k + "=<value> to flink run; for the embedded "
                    + "run put it in " + EMBEDDED_FLINK_FILE + " or on the command line");
        });
        return values;
    }

    private static Map<String, String> commandLine(ParameterTool cli) {
        Map<String, String> out = new LinkedHashMap<>(cli.toMap());
        out.remove(CONF_ARG);
        out.remove(FLINK_CONF_ARG);
        out.forEach((k, v) -> {
            if (NO_VALUE.equals(v)) {
                throw new IllegalArgumentException("--" + k + " needs a value");
            }
        });
        return out;
    }

    // ---- --help ----

    /** Which entry point asks for help: the options it lists and how it is started. */
    public enum Entry {
        EMBEDDED("bin/optune-embedded [--conf FILE] [--flink-conf FILE] [--<key> <value> ...]",
                "Runs the OPTune job on a local Flink mini cluster. Options come from --conf (default " + DEFAULT_FILE
                        + "), Flink settings from --flink-conf (default " + EMBEDDED_FLINK_FILE + "); any --<key> <value> "
                        + "overrides both, Flink keys included."),
        CLUSTER("flink run [-D<flink-key>=<value> ...] -c io.optune.jobs.OptuneJob optune-flink-job.jar [--conf FILE] "
                + "[--optune.<key> <value> ...]",
                "Submits the OPTune job to a Flink cluster. Options come from --conf (default " + DEFAULT_FILE + " when "
                        + "present) and --optune.<key> <value>; Flink settings come from the cluster's config.yaml and -D.");

        private final String usage;
        private final String summary;

        Entry(String usage, String summary) {
            this.usage = usage;
            this.summary = summary;
        }

        /** The embedded run's own options mean nothing to a cluster job, except the warm start's length. */
        boolean lists(ConfigOption<?> o) {
            return this == EMBEDDED || !o.key().startsWith("optune.embedded.") || o.key().equals(OptuneOptions.SFT_STEPS.key());
        }
    }

    /** Whether the arguments ask for help ({@code --help} or {@code -h}). */
    public static boolean wantsHelp(String[] args) {
        return Arrays.stream(args).anyMatch(a -> a.equals("--help") || a.equals("-h"));
    }

    /** When the arguments ask for help, prints it to {@code out} and returns true (the caller then exits). */
    public static boolean printHelpIfAsked(String[] args, Entry entry, PrintStream out) {
        if (!wantsHelp(args)) {
            return false;
        }
        out.print(help(entry));
        out.flush();
        return true;
    }

    /** The usage text of an entry point: every option it takes, with its default and description (from {@link OptuneOptions}). */
    public static String help(Entry entry) {
        StringBuilder b = new StringBuilder();
        b.append("Usage: ").append(entry.usage).append("\n\n").append(entry.summary).append("\n\nOptions (default in brackets):\n");
        for (ConfigOption<?> o : OptuneOptions.all()) {
            if (!entry.lists(o)) {
                continue;
            }
            b.append("  --").append(o.key()).append("  [").append(defaultText(o)).append("]\n");
            b.append("      ").append(descriptionText(o)).append('\n');
        }
        b.append("  --").append(OptuneOptions.KAFKA_PROPERTIES_PREFIX).append("<name>  [unset]\n")
                .append("      Kafka client property <name>, passed through as is (also from environment variables ")
                .append(KAFKA_ENV_PREFIX).append("<NAME>).\n");
        return b.toString();
    }

    static String defaultText(ConfigOption<?> o) {
        if (!o.hasDefaultValue()) {
            return "unset";
        }
        Object v = o.defaultValue();
        return v instanceof Duration d ? TimeUtils.formatWithHighestUnit(d) : String.valueOf(v);
    }

    static String descriptionText(ConfigOption<?> o) {
        StringBuilder b = new StringBuilder();
        for (BlockElement block : o.description().getBlocks()) {
            if (block instanceof TextElement t && t.getElements().isEmpty()) {
                b.append(t.getFormat());
            }
        }
        return b.toString();
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
        OptuneOptions.all().forEach(o -> {
            known.put(o.key(), o);
            // Deprecated keys stay accepted (Flink reads them in place of the new key and warns).
            o.fallbackKeys().forEach(f -> known.put(f.getKey(), o));
        });
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
        for (var option : List.of(OptuneOptions.ENGINE_DEVICE, OptuneOptions.GENERATE_DEVICE, OptuneOptions.TRAIN_DEVICE,
                OptuneOptions.REWARD_DEVICE)) {
            // Form only: the client loads no natives; a GPU the engine lacks fails the operator at open.
            conf.getOptional(option).ifPresent(d -> {
                try {
                    io.optune.engine.EngineDevice.checkSpec(d);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("invalid value for " + option.key() + ": " + e.getMessage(), e);
                }
            });
        }
        try {
            OptuneOptions.precision(conf);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid value for " + OptuneOptions.ENGINE_PRECISION.key() + ": " + e.getMessage(), e);
        }
        if (OptuneOptions.fixedRho(conf).isEmpty() && conf.get(OptuneOptions.SELECT_STRATEGY) == io.optune.engine.loop.SelectionStrategy.ALL) {
            throw new IllegalArgumentException("optune.select.rho auto needs optune.select.strategy OPTUNE or RANDOM");
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
        int maxOperand = conf.get(OptuneOptions.BUILTIN_MAX_OPERAND);
        if (maxOperand < 2 || (conf.get(OptuneOptions.SOURCE_TYPE) == OptuneOptions.SourceType.BUILTIN
                && maxOperand >= conf.get(OptuneOptions.MAX_NEW_TOKENS))) {
            throw new IllegalArgumentException(OptuneOptions.BUILTIN_MAX_OPERAND.key() + " must be >= 2 and below "
                    + OptuneOptions.MAX_NEW_TOKENS.key() + " (" + conf.get(OptuneOptions.MAX_NEW_TOKENS) + ": an answer and its end token"
                    + " must fit): " + maxOperand);
        }
        if (conf.get(OptuneOptions.SAMPLES) < 2) {
            throw new IllegalArgumentException("optune.generate.samples-per-prompt must be >= 2 to form pairs");
        }
        RewardModels.validate(conf);
        if (conf.get(OptuneOptions.REWARD_TYPE) == OptuneOptions.RewardType.HTTP) {
            OptuneTopology.httpRewardConfig(conf); // url, batch, token and timeout values are checked here, before the job starts
        }
    }
}
