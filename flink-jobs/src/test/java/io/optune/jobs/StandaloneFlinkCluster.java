package io.optune.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A standalone Flink session cluster as separate JVMs on 127.0.0.1, started the way Flink's own
 * scripts would, without them: memory flags from Flink's {@code BashJavaUtils}, then
 * {@code StandaloneSessionClusterEntrypoint} and {@code TaskManagerRunner} processes, and the CLI
 * ({@code CliFrontend}) with {@code FLINK_CONF_DIR}. The classpath is Flink's lib/ plus the job's
 * flink-lib/ (DJL), as on a node where flink-lib was copied into {@code $FLINK_HOME/lib}.
 *
 * <p>Every JVM logs under {@code <dir>/logs} (kept for a failed test); {@link #close} kills every
 * process it started, also from a shutdown hook if the test JVM is ended first.
 */
final class StandaloneFlinkCluster implements AutoCloseable {
    /** Flink's stock flags for Java 17 (its default config.yaml sets them in env.java.opts.all). */
    static final List<String> JAVA17_OPENS = List.of(
            "--add-exports=java.base/sun.net.util=ALL-UNNAMED", "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
            "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.net=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
            "--add-opens=java.base/java.text=ALL-UNNAMED", "--add-opens=java.base/java.time=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED");
    static final String RESULT_PREFIX = "BASH_JAVA_UTILS_EXEC_RESULT:";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Path conf;
    private final Path logs;
    private final String classpath;
    private final Map<String, String> config;
    private final int restPort;
    private final Map<String, Process> processes = new LinkedHashMap<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Thread shutdownHook = new Thread(this::killAll, "standalone-cluster-cleanup");
    private List<String> tmJvmParams;
    private List<String> tmDynamicConfig;
    private int cliRuns;

    /**
     * @param distLib Flink's lib/ (see the flink-dist-lib module)
     * @param djlLib the job's flink-lib/ (DJL and its natives)
     * @param dir working directory: conf/, logs/, tmp/
     * @param config the cluster's configuration (flat keys); addresses, ports and local directories are added
     */
    StandaloneFlinkCluster(Path distLib, Path djlLib, Path dir, Map<String, String> config) throws IOException {
        for (Path lib : List.of(distLib, djlLib)) {
            if (!Files.isDirectory(lib)) {
                throw new IllegalStateException(lib + " is missing: run the build's package phase first (mvn verify)");
            }
        }
        this.dir = dir;
        this.conf = Files.createDirectories(dir.resolve("conf"));
        this.logs = Files.createDirectories(dir.resolve("logs"));
        Files.createDirectories(dir.resolve("tmp"));
        this.classpath = distLib.toAbsolutePath() + "/*:" + djlLib.toAbsolutePath() + "/*";
        this.restPort = freePort();
        this.config = new LinkedHashMap<>(config);
        this.config.putAll(Map.of(
                "jobmanager.rpc.address", "127.0.0.1",
                "jobmanager.rpc.port", String.valueOf(freePort()),
                "jobmanager.bind-host", "127.0.0.1",
                "taskmanager.bind-host", "127.0.0.1",
                "taskmanager.host", "127.0.0.1",
                "rest.address", "127.0.0.1",
                "rest.bind-address", "127.0.0.1",
                "rest.port", String.valueOf(restPort),
                "web.upload.dir", Files.createDirectories(dir.resolve("web-upload")).toString()));
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    Path logs() {
        return logs;
    }

    /** Writes the configuration and starts the JobManager; returns once its REST API answers. */
    StandaloneFlinkCluster start(Duration timeout) throws Exception {
        StringBuilder yaml = new StringBuilder();
        config.forEach((k, v) -> yaml.append(k).append(": ").append(yamlValue(v)).append('\n'));
        Files.writeString(conf.resolve("config.yaml"), yaml);
        Files.writeString(conf.resolve("log4j.properties"), String.join("\n",
                "rootLogger.level = INFO",
                "rootLogger.appenderRef.file.ref = file",
                "appender.file.type = File",
                "appender.file.name = file",
                "appender.file.fileName = ${sys:log.file}",
                "appender.file.layout.type = PatternLayout",
                "appender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-50c{1.} [%t] - %m%n",
                "logger.pekko.name = org.apache.pekko", "logger.pekko.level = WARN",
                "logger.kafka.name = org.apache.kafka", "logger.kafka.level = WARN", ""));
        List<List<String>> jm = resourceParams("GET_JM_RESOURCE_PARAMS");
        List<String> cmd = jvm("jobmanager", jm.get(0), "jobmanager");
        cmd.add("org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint");
        cmd.addAll(List.of("--configDir", conf.toString()));
        cmd.addAll(jm.get(1));
        launch("jobmanager", cmd);
        await("the JobManager's REST API", timeout, () -> {
            try {
                get("/config");
                return true;
            } catch (IOException e) {
                return false;
            }
        });
        return this;
    }

    /** Starts a TaskManager JVM named {@code name} (also its resource id, as the REST API shows it). */
    void startTaskManager(String name) throws Exception {
        if (tmJvmParams == null) {
            List<List<String>> tm = resourceParams("GET_TM_RESOURCE_PARAMS");
            tmJvmParams = tm.get(0);
            tmDynamicConfig = tm.get(1);
        }
        List<String> cmd = jvm(name, tmJvmParams, "taskmanager");
        cmd.add("org.apache.flink.runtime.taskexecutor.TaskManagerRunner");
        cmd.addAll(List.of("--configDir", conf.toString()));
        cmd.addAll(tmDynamicConfig);
        cmd.addAll(List.of("-D", "taskmanager.resource-id=" + name));
        launch(name, cmd);
    }

    /** Waits until exactly these TaskManagers are registered (a killed one drops out after the heartbeat timeout). */
    void awaitTaskManagers(List<String> names, Duration timeout) throws Exception {
        await("TaskManagers " + names, timeout, () -> taskManagers().equals(new java.util.TreeSet<>(names)));
    }

    java.util.SortedSet<String> taskManagers() {
        java.util.SortedSet<String> ids = new java.util.TreeSet<>();
        try {
            get("/taskmanagers").path("taskmanagers").forEach(t -> ids.add(t.path("id").asText()));
        } catch (IOException e) {
            // not up (yet)
        }
        return ids;
    }

    /** {@code kill -9}: the process gets no chance to clean up or tell the JobManager. */
    void kill(String name) throws InterruptedException {
        Process p = processes.get(name);
        p.destroyForcibly(); // SIGKILL
        p.waitFor(30, TimeUnit.SECONDS);
    }

    /** The Flink CLI ({@code bin/flink <args>}); returns its output, fails on a non-zero exit or after the timeout. */
    String cli(Duration timeout, String... args) throws Exception {
        String name = "cli-" + (++cliRuns);
        List<String> cmd = jvm(name, List.of("-Xmx512m"), "client");
        cmd.add("org.apache.flink.client.cli.CliFrontend");
        cmd.addAll(Arrays.asList(args));
        Process p = launch(name, cmd);
        boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        String out = Files.readString(logs.resolve(name + ".out"));
        if (!done) {
            kill(name);
            throw new AssertionError("flink " + String.join(" ", args) + " did not finish within " + timeout + ":\n" + out);
        }
        if (p.exitValue() != 0) {
            throw new AssertionError("flink " + String.join(" ", args) + " exited with " + p.exitValue() + " (log "
                    + logs.resolve(name + ".log") + "):\n" + out);
        }
        return out;
    }

    JsonNode get(String path) throws IOException {
        return send(HttpRequest.newBuilder(uri(path)).GET().timeout(Duration.ofSeconds(10)).build());
    }

    JsonNode post(String path, Object body, Duration timeout) throws IOException {
        return send(HttpRequest.newBuilder(uri(path)).timeout(timeout).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build());
    }

    JsonNode patch(String path) throws IOException {
        return send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30))
                .method("PATCH", HttpRequest.BodyPublishers.noBody()).build());
    }

    /** {@code POST /jars/upload} (multipart, field {@code jarfile}); returns the jar's id for {@code /jars/<id>/run}. */
    String uploadJar(Path jar) throws IOException {
        String boundary = "optune-" + System.nanoTime();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\""
                + jar.getFileName() + "\"\r\nContent-Type: application/x-java-archive\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(Files.readAllBytes(jar));
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        JsonNode r = send(HttpRequest.newBuilder(uri("/jars/upload")).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build());
        String file = r.path("filename").asText();
        return file.substring(file.lastIndexOf('/') + 1);
    }

    private JsonNode send(HttpRequest request) throws IOException {
        try {
            HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() / 100 != 2) {
                throw new IOException(request.method() + " " + request.uri() + " -> " + r.statusCode() + ": " + r.body());
            }
            return r.body().isEmpty() ? JSON.createObjectNode() : JSON.readTree(r.body());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + restPort + "/v1" + path);
    }

    /** The JVM flags of Flink's memory model for this configuration (JVM parameters, dynamic properties). */
    private List<List<String>> resourceParams(String command) throws Exception {
        String name = "bash-java-utils-" + command.toLowerCase(java.util.Locale.ROOT);
        List<String> cmd = new ArrayList<>(List.of(java(), "-Xmx256m", "-cp", classpath,
                "org.apache.flink.runtime.util.bash.BashJavaUtils", command, "--configDir", conf.toString()));
        Process p = launch(name, cmd);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            kill(name);
            throw new IllegalStateException(command + " failed: " + Files.readString(logs.resolve(name + ".out")));
        }
        List<List<String>> results = new ArrayList<>();
        for (String line : Files.readAllLines(logs.resolve(name + ".out"))) {
            if (line.startsWith(RESULT_PREFIX)) {
                results.add(Arrays.asList(line.substring(RESULT_PREFIX.length()).trim().split("\\s+")));
            }
        }
        if (results.size() < 2) {
            throw new IllegalStateException(command + " printed no JVM parameters: see " + logs.resolve(name + ".out"));
        }
        return results;
    }

    /** java, memory flags, Java 17 opens, the configured env.java.opts for this role, logging, classpath. */
    private List<String> jvm(String name, List<String> memory, String role) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.addAll(memory);
        cmd.addAll(JAVA17_OPENS);
        for (String key : List.of("env.java.opts.all", "env.java.opts." + role)) {
            String opts = config.get(key);
            if (opts != null && !opts.isBlank()) {
                cmd.addAll(Arrays.asList(opts.trim().split("\\s+")));
            }
        }
        cmd.add("-Djava.io.tmpdir=" + Files.createDirectories(dir.resolve("tmp").resolve(name)));
        cmd.add("-Dlog.file=" + logs.resolve(name + ".log"));
        cmd.add("-Dlog4j.configurationFile=file:" + conf.resolve("log4j.properties"));
        cmd.addAll(List.of("-cp", classpath));
        return cmd;
    }

    private Process launch(String name, List<String> cmd) throws IOException {
        Files.writeString(logs.resolve(name + ".cmd"), String.join(" ", cmd) + "\n");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(logs.resolve(name + ".out").toFile());
        pb.environment().put("FLINK_CONF_DIR", conf.toString());
        Process p = pb.start();
        synchronized (processes) {
            processes.put(name, p);
        }
        return p;
    }

    static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            Thread.sleep(250);
        }
    }

    private static String java() {
        return ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    private static String yamlValue(String v) {
        // Flink's YAML parser: quote values that YAML would read as something else.
        return v.isEmpty() || v.matches(".*[:#{}\\[\\],&*?|<>=!%@`'\"].*") || v.startsWith("-")
                ? "'" + v.replace("'", "''") + "'" : v;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        }
    }

    private void killAll() {
        List<Process> all;
        synchronized (processes) {
            all = new ArrayList<>(processes.values());
        }
        for (Process p : all) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (Process p : all) {
            try {
                p.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Kills every process started here (TaskManagers, JobManager, any CLI still running). */
    @Override
    public void close() {
        killAll();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway
        }
    }
}
