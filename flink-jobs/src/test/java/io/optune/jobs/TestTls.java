package io.optune.jobs;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A self-signed certificate for 127.0.0.1 (made with the JDK's keytool), its trust store, and SCRAM
 * users, for a test broker's SASL_SSL listener.
 */
final class TestTls {
    static final String BROKER_USER = "broker";

    private final Path keystore;
    private final Path truststore;
    private final String storePassword;
    private final String brokerPassword;
    private final Map<String, String> users;

    private TestTls(Path keystore, Path truststore, String storePassword, String brokerPassword, Map<String, String> users) {
        this.keystore = keystore;
        this.truststore = truststore;
        this.storePassword = storePassword;
        this.brokerPassword = brokerPassword;
        this.users = users;
    }

    static TestTls create(Path dir, Map<String, String> scramUsers) throws Exception {
        Files.createDirectories(dir);
        String pass = "store-" + UUID.randomUUID();
        Path keystore = dir.resolve("broker.p12");
        Path cert = dir.resolve("broker.crt");
        Path truststore = dir.resolve("trust.p12");
        keytool("-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2",
                "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1", "-keystore", keystore.toString(), "-storetype", "PKCS12",
                "-storepass", pass, "-keypass", pass);
        keytool("-exportcert", "-alias", "broker", "-keystore", keystore.toString(), "-storepass", pass, "-rfc", "-file", cert.toString());
        keytool("-importcert", "-noprompt", "-alias", "broker", "-file", cert.toString(), "-keystore", truststore.toString(),
                "-storetype", "PKCS12", "-storepass", pass);
        Map<String, String> users = new LinkedHashMap<>(scramUsers);
        String brokerPassword = "broker-" + UUID.randomUUID();
        users.put(BROKER_USER, brokerPassword);
        return new TestTls(keystore, truststore, pass, brokerPassword, users);
    }

    Path keystore() {
        return keystore;
    }

    Path truststore() {
        return truststore;
    }

    String storePassword() {
        return storePassword;
    }

    String brokerPassword() {
        return brokerPassword;
    }

    /** StorageTool arguments that create every user's SCRAM-SHA-256 credential. */
    List<String> scramArguments() {
        List<String> out = new ArrayList<>();
        users.forEach((u, p) -> {
            out.add("--add-scram");
            out.add("SCRAM-SHA-256=[name=" + u + ",password=" + p + "]");
        });
        return out;
    }

    Map<String, String> clientProperties(String user, String password) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("security.protocol", "SASL_SSL");
        m.put("sasl.mechanism", "SCRAM-SHA-256");
        m.put("sasl.jaas.config", jaas(user, password));
        m.put("ssl.truststore.type", "PKCS12");
        m.put("ssl.truststore.location", truststore.toString());
        m.put("ssl.truststore.password", storePassword);
        return m;
    }

    static String jaas(String user, String password) {
        return "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" + user + "\" password=\"" + password + "\";";
    }

    private static void keytool(String... args) throws Exception {
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        List<String> cmd = new ArrayList<>();
        cmd.add(keytool.toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("keytool " + args[0] + " failed: " + out);
        }
    }
}
