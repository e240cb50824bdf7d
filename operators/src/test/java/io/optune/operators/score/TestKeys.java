package io.optune.operators.score;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/** A self-signed certificate for 127.0.0.1 and a trust store holding it, made with the JDK's keytool. */
record TestKeys(Path keystore, Path truststore, String password) {

    static TestKeys create(Path dir) throws Exception {
        String pass = "store-" + UUID.randomUUID();
        Path ks = dir.resolve("server.p12");
        Path cert = dir.resolve("server.crt");
        Path ts = dir.resolve("trust.p12");
        keytool("-genkeypair", "-alias", "rm", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2",
                "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1", "-keystore", ks.toString(), "-storetype", "PKCS12",
                "-storepass", pass, "-keypass", pass);
        keytool("-exportcert", "-alias", "rm", "-keystore", ks.toString(), "-storepass", pass, "-rfc", "-file", cert.toString());
        keytool("-importcert", "-noprompt", "-alias", "rm", "-file", cert.toString(), "-keystore", ts.toString(),
                "-storetype", "PKCS12", "-storepass", pass);
        return new TestKeys(ks, ts, pass);
    }

    private static void keytool(String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("keytool failed: " + out);
        }
    }
}
