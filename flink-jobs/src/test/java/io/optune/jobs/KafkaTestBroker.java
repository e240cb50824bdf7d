package io.optune.jobs;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/** A single-node KRaft Kafka broker in this JVM, on 127.0.0.1 only, for tests. */
final class KafkaTestBroker implements AutoCloseable {
    private final Properties config;
    private volatile KafkaRaftServer server;
    private final String bootstrap;

    KafkaTestBroker(Path dir) throws Exception {
        this(dir, null);
    }

    /**
     * A broker whose client listener speaks SASL_SSL with SCRAM-SHA-256 (certificate and users made
     * here); {@link #clientSecurity} gives a client's properties for a user.
     */
    static KafkaTestBroker secured(Path dir, Map<String, String> scramUsers) throws Exception {
        return new KafkaTestBroker(dir, TestTls.create(dir.resolve("tls"), scramUsers));
    }

    private final TestTls tls;

    private KafkaTestBroker(Path dir, TestTls tls) throws Exception {
        this.tls = tls;
        int brokerPort = freePort();
        int controllerPort = freePort();
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("log.dirs", dir.resolve("logs").toString());
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("num.partitions", "1");
        // Version-2 transactions make Flink's exactly-once sink log a false "fenced" error on recovery.
        p.put("transaction.version", "1");
        if (tls != null) {
            p.put("listeners", "SASL_SSL://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
            p.put("advertised.listeners", "SASL_SSL://127.0.0.1:" + brokerPort);
            p.put("listener.security.protocol.map", "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT");
            p.put("inter.broker.listener.name", "SASL_SSL");
            p.put("sasl.enabled.mechanisms", "SCRAM-SHA-256");
            p.put("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256");
            p.put("listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config", TestTls.jaas(TestTls.BROKER_USER, tls.brokerPassword()));
            p.put("ssl.keystore.type", "PKCS12");
            p.put("ssl.keystore.location", tls.keystore().toString());
            p.put("ssl.keystore.password", tls.storePassword());
            p.put("ssl.truststore.type", "PKCS12");
            p.put("ssl.truststore.location", tls.truststore().toString());
            p.put("ssl.truststore.password", tls.storePassword());
            p.put("ssl.endpoint.identification.algorithm", "https");
        }
        Files.createDirectories(dir);
        Path props = dir.resolve("server.properties");
        try (var out = Files.newOutputStream(props)) {
            p.store(out, "test broker");
        }
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<String> format = new java.util.ArrayList<>(List.of("format", "-t", Uuid.randomUuid().toString(), "-c", props.toString()));
        if (tls != null) {
            format.addAll(tls.scramArguments()); // SCRAM users exist before the broker first starts
        }
        int rc = StorageTool.execute(format.toArray(new String[0]), new PrintStream(log));
        if (rc != 0) {
            throw new IOException("formatting the test broker's storage failed: " + log);
        }
        config = p;
        server = new KafkaRaftServer(KafkaConfig.fromProps(p, false), Time.SYSTEM);
        server.startup();
        bootstrap = "127.0.0.1:" + brokerPort;
    }

    String bootstrapServers() {
        return bootstrap;
    }

    /** Client properties of this broker's listener for a user (empty for a plain broker). */
    Map<String, String> clientSecurity(String user, String password) {
        return tls == null ? Map.of() : tls.clientProperties(user, password);
    }

    private Map<String, Object> admin() {
        Map<String, Object> m = new java.util.HashMap<>(clientSecurity(TestTls.BROKER_USER, tls == null ? "" : tls.brokerPassword()));
        m.put("bootstrap.servers", bootstrap);
        return m;
    }

    void createTopics(String... names) throws Exception {
        try (Admin admin = Admin.create(admin())) {
            admin.createTopics(java.util.Arrays.stream(names).map(n -> new NewTopic(n, 1, (short) 1)).toList()).all().get();
        }
    }

    /**
     * Stops the broker, waits {@code downtime}, starts it again on the same ports and data, and
     * returns once every topic has a partition leader again (the broker is unfenced).
     */
    void restart(java.time.Duration downtime) throws Exception {
        server.shutdown();
        server.awaitShutdown();
        Thread.sleep(downtime.toMillis());
        KafkaRaftServer next = new KafkaRaftServer(KafkaConfig.fromProps(config, false), Time.SYSTEM);
        next.startup();
        server = next;
        long deadline = System.currentTimeMillis() + 60_000;
        try (Admin admin = Admin.create(admin())) {
            while (System.currentTimeMillis() < deadline) {
                try {
                    var names = admin.listTopics().names().get();
                    boolean led = admin.describeTopics(names).allTopicNames().get().values().stream()
                            .allMatch(t -> t.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()));
                    if (led) {
                        return;
                    }
                } catch (java.util.concurrent.ExecutionException e) {
                    // not ready yet
                }
                Thread.sleep(200);
            }
        }
        throw new IOException("the restarted broker did not lead its partitions within 60 s");
    }

    /** Produces keyed records (key, value) to a topic and waits until all are acknowledged. */
    void produce(String topic, List<Map.Entry<String, String>> records) {
        Map<String, Object> props = admin();
        props.put("linger.ms", "5");
        try (org.apache.kafka.clients.producer.KafkaProducer<String, String> producer = new org.apache.kafka.clients.producer.KafkaProducer<>(
                props,
                new org.apache.kafka.common.serialization.StringSerializer(), new org.apache.kafka.common.serialization.StringSerializer())) {
            for (Map.Entry<String, String> r : records) {
                producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, r.getKey(), r.getValue()));
            }
        }
    }

    /**
     * Reads a topic from the start as a read-committed consumer would, until {@code enough} holds for
     * what was read or {@code timeout} passes.
     */
    List<String> readCommitted(String topic, java.time.Duration timeout, java.util.function.Predicate<List<String>> enough) {
        List<String> seen = new java.util.ArrayList<>();
        Map<String, Object> props = admin();
        props.put("group.id", "reader-" + java.util.UUID.randomUUID());
        props.put("auto.offset.reset", "earliest");
        props.put("isolation.level", "read_committed");
        try (org.apache.kafka.clients.consumer.KafkaConsumer<String, String> consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<>(
                props,
                new org.apache.kafka.common.serialization.StringDeserializer(), new org.apache.kafka.common.serialization.StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + timeout.toMillis();
            while (System.currentTimeMillis() < deadline && !enough.test(seen)) {
                consumer.poll(java.time.Duration.ofMillis(500)).forEach(r -> seen.add(r.value()));
            }
        }
        return seen;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        server.shutdown();
        server.awaitShutdown();
    }

}
