package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The job for a Flink cluster ({@code flink run -c io.optune.jobs.OptuneJob optune-flink-job.jar --conf optune.yaml}).
 * The cluster's own configuration (and {@code flink run -D}) decides state backend, checkpoints and
 * restarts; this main reads the job's {@code optune.*} options once ({@link JobConfig#forCluster}), makes
 * sure the weight log holds a policy, builds the topology and submits it. {@code --help} lists the options.
 */
public final class OptuneJob {
    private static final Logger LOG = LoggerFactory.getLogger(OptuneJob.class);

    private OptuneJob() {}

    public static void main(String[] args) throws Exception {
        if (JobConfig.printHelpIfAsked(args, JobConfig.Entry.CLUSTER, System.out)) {
            return;
        }
        Configuration conf = JobConfig.forCluster(args);
        Connections.preflight(conf);
        String weights = required(conf, OptuneOptions.WEIGHTS_PATH.key(), conf.getOptional(OptuneOptions.WEIGHTS_PATH).orElse(null));
        String feedback = required(conf, OptuneOptions.FEEDBACK_PATH.key(), conf.getOptional(OptuneOptions.FEEDBACK_PATH).orElse(null));
        String deadLetters = required(conf, OptuneOptions.DEAD_LETTER_PATH.key(), conf.getOptional(OptuneOptions.DEAD_LETTER_PATH).orElse(null));

        // No throw-away keys on a cluster: without configured keys (or signing turned off) this fails here.
        FileSystemWeightLog log = PolicySigning.weightLog(conf, conf.toMap(), weights, null);
        log.initialize(); // fails here, with the path, when the store is not writable
        new Path(feedback).getFileSystem().mkdirs(new Path(feedback));
        InitialPolicy.ensure(conf, log, LOG::info);

        // Flink's settings are the cluster's (and flink run -D's): the job sets none of its own, so a
        // cluster's restart strategy and checkpoint interval hold for it.
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (!env.getCheckpointConfig().isCheckpointingEnabled()) {
            // The memory feedback commits on checkpoints and recovery starts from them.
            throw new IllegalStateException("checkpointing is off: set execution.checkpointing.interval (see conf/flink/config.yaml)");
        }
        if (env.getConfiguration().getOptional(CheckpointingOptions.CHECKPOINTS_DIRECTORY).isEmpty()) {
            // Without it checkpoints go to the JobManager's memory, which caps state far below the trainer's.
            throw new IllegalStateException("set execution.checkpointing.dir (durable storage such as s3://...): the trainer's "
                    + "checkpointed state is several MB (see conf/flink/config.yaml)");
        }
        OptuneTopology.build(conf, Connections.fileSystem(env, conf, log, feedback, deadLetters));
        env.execute(env.getConfiguration().getOptional(PipelineOptions.NAME).orElse("optune"));
    }

    private static String required(Configuration conf, String key, String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(key + " is required on a cluster (a path every TaskManager can reach, e.g. s3://...)");
        }
        return value;
    }
}
