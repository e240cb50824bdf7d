package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.operators.records.PolicyUpdate;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A job restart inside one TaskManager JVM, with the job's classes in a user jar (child-first user
 * classloader, as on a cluster) and DJL on the parent classpath loaded parent-first, as
 * conf/flink/config.yaml and the chart configure it: the second attempt gets a new user classloader
 * and must still use PyTorch's native library, which a JVM can load only once.
 */
class ClassloaderRestartITCase {
    @TempDir
    Path dir;

    @Test
    void aRestartedAttemptInTheSameJvmKeepsUsingDjl() throws Exception {
        RecoveryITCase.SEEN.set(0);
        RecoveryITCase.FAILED.set(false);
        Path jar = userJar(dir.resolve("optune-user.jar"));

        Configuration cluster = new Configuration();
        cluster.setString("classloader.resolve-order", "child-first");
        cluster.setString("classloader.parent-first-patterns.additional", "ai.djl.");
        cluster.setString("rest.bind-address", "127.0.0.1");
        cluster.setString("rest.address", "127.0.0.1");
        cluster.setString("rest.port", "0");
        try (MiniCluster mini = new MiniCluster(new MiniClusterConfiguration.Builder()
                .setConfiguration(cluster).setNumTaskManagers(1).setNumSlotsPerTaskManager(4).build())) {
            mini.start();
            Configuration conf = JobConfig.load(new String[] {
                "--conf", "../conf/optune.yaml",
                "--optune.train.held-out-size", "0",
                "--optune.train.publish-every", "10",
                "--optune.embedded.sft-steps", "100",
            });
            FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.resolve("weights").toUri().toString()).build();
            log.initialize();
            InitialPolicy.ensure(conf, log, s -> { });
            Files.createDirectories(dir.resolve("feedback"));

            Configuration client = new Configuration();
            client.setString("execution.checkpointing.interval", "2s");
            client.setString("execution.checkpointing.dir", dir.resolve("checkpoints").toUri().toString());
            client.setString("state.backend.type", "rocksdb");
            client.setString("restart-strategy.type", "fixed-delay");
            client.setString("restart-strategy.fixed-delay.attempts", "3");
            client.setString("restart-strategy.fixed-delay.delay", "1s");
            StreamExecutionEnvironment env = StreamExecutionEnvironment.createRemoteEnvironment(
                    "127.0.0.1", mini.getRestAddress().get().getPort(), client, jar.toString());
            Connections io = Connections.fileSystem(env, conf, log, dir.resolve("feedback").toUri().toString(),
                    dir.resolve("dead").toUri().toString());
            OptuneTopology.build(conf, io.withPrompts(io.prompts().map(new RecoveryITCase.FailOnce()).returns(Types.STRING)));
            JobClient job = env.executeAsync("classloader-restart");
            long deadline = System.currentTimeMillis() + 90_000;
            long versionsAfterFailure = 0;
            while (System.currentTimeMillis() < deadline) {
                Thread.sleep(1000);
                if (RecoveryITCase.FAILED.get()) {
                    List<PolicyUpdate> v = log.versions();
                    long afterRestart = v.stream().filter(u -> u.publishedAt() > failedAt()).count();
                    versionsAfterFailure = afterRestart;
                    if (afterRestart >= 2) {
                        break;
                    }
                }
                assertThat(job.getJobStatus().get().isGloballyTerminalState()).as("job ended early").isFalse();
            }
            job.cancel().get();
            assertThat(RecoveryITCase.FAILED).isTrue();
            assertThat(versionsAfterFailure).as("versions published by the restarted attempt").isGreaterThanOrEqualTo(2);
        }
    }

    private static volatile long failedAtMillis;

    private static long failedAt() {
        if (failedAtMillis == 0) {
            failedAtMillis = System.currentTimeMillis();
        }
        return failedAtMillis;
    }

    /** The job's own classes (io.optune.*, without DJL) in a jar, as a cluster would receive them. */
    private static Path userJar(Path target) throws IOException {
        // Main classes only: the test's fault injector stays on the parent classpath, so its "fail once"
        // flag is shared by both attempts and by this test.
        List<Path> roots = List.of(Path.of("target", "classes"),
                Path.of("..", "operators", "target", "classes"), Path.of("..", "connectors", "target", "classes"));
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(target))) {
            for (Path root : roots) {
                try (Stream<Path> files = Files.walk(root)) {
                    for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                        String name = root.relativize(f).toString().replace('\\', '/');
                        if (!name.startsWith("io/optune/")) {
                            continue;
                        }
                        out.putNextEntry(new JarEntry(name));
                        try (var in = Files.newInputStream(f)) {
                            in.transferTo(out);
                        }
                        out.closeEntry();
                    }
                }
            }
        }
        return target;
    }

}
