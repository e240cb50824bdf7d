package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.snapshot.Hashing;
import io.optune.operators.weights.PolicySigner;
import io.optune.operators.weights.PolicyVerifier;
import io.optune.operators.weights.SigningKeys;
import org.apache.flink.configuration.ReadableConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * Builds the job's weight log with signing as configured: every publisher signs with the private key,
 * every reader verifies with the public key. One place, so no entry point can forget either half.
 */
public final class PolicySigning {
    private static final Logger LOG = LoggerFactory.getLogger(PolicySigning.class);

    private PolicySigning() {}

    /**
     * @param embeddedKeyDir where an embedded run keeps a throw-away key pair (made on first use) when
     *     no keys are configured; null on a cluster, where missing keys are an error
     */
    public static FileSystemWeightLog weightLog(ReadableConfig conf, Map<String, String> options, String basePath,
            Path embeddedKeyDir) throws IOException {
        FileSystemWeightLog.Builder b = FileSystemWeightLog.builder().setBasePath(basePath)
                .optRetainVersions(conf.get(OptuneOptions.WEIGHTS_RETAIN))
                .optRetainEvery(conf.get(OptuneOptions.WEIGHTS_RETAIN_EVERY));
        if (!conf.get(OptuneOptions.SIGNING_ENABLED)) {
            LOG.warn("Policy signing is OFF (optune.weights.signing.enabled=false): anyone who can write {} can publish "
                    + "a policy the generators will load", basePath);
            return b.build();
        }
        String priv = conf.getOptional(OptuneOptions.SIGNING_PRIVATE_KEY).orElse(null);
        String pub = conf.getOptional(OptuneOptions.SIGNING_PUBLIC_KEY).orElse(null);
        if (priv == null && pub == null && embeddedKeyDir != null) {
            if (!Files.exists(embeddedKeyDir.resolve(SigningKeys.PUBLIC_FILE))) {
                SigningKeys.generateInto(embeddedKeyDir);
                LOG.info("Made a throw-away policy signing key pair in {}", embeddedKeyDir);
            }
            priv = embeddedKeyDir.resolve(SigningKeys.PRIVATE_FILE).toString();
            pub = embeddedKeyDir.resolve(SigningKeys.PUBLIC_FILE).toString();
        }
        if (priv == null || pub == null) {
            throw new IllegalArgumentException("policy signing is on but " + (pub == null ? OptuneOptions.SIGNING_PUBLIC_KEY.key()
                    : OptuneOptions.SIGNING_PRIVATE_KEY.key()) + " is not set: make a key pair with "
                    + "'openssl genpkey -algorithm ed25519 -out policy-signing.key && openssl pkey -in policy-signing.key "
                    + "-pubout -out policy-signing.pub', point both options at the files (a Kubernetes Secret on a cluster), "
                    + "or set " + OptuneOptions.SIGNING_ENABLED.key() + "=false explicitly (docs/SECURITY.md)");
        }
        PolicyVerifier verifier = PolicyVerifier.fromFile(Path.of(pub));
        // Fail now, not at the first publication, when the private key is unreadable or not the public key's pair.
        if (!SigningKeys.arePair(SigningKeys.readPrivate(Path.of(priv)), SigningKeys.readPublic(Path.of(pub)))) {
            throw new IllegalArgumentException("the policy signing keys " + priv + " and " + pub + " are not one key pair");
        }
        LOG.info("Policy versions are signed and verified with key {}", verifier.keyId());
        return b.optSigner(new PolicySigner(priv, configSha256(options))).optVerifier(verifier).build();
    }

    /**
     * SHA-256 of the job's {@code optune.*} options (sorted), which every signature vouches for; secrets
     * (Kafka client properties) and key locations are left out.
     */
    static String configSha256(Map<String, String> options) {
        TreeMap<String, String> sorted = new TreeMap<>();
        options.forEach((k, v) -> {
            if (k.startsWith("optune.") && !k.startsWith(OptuneOptions.KAFKA_PROPERTIES_PREFIX)
                    && !k.startsWith("optune.weights.signing.")) {
                sorted.put(k, v);
            }
        });
        StringBuilder sb = new StringBuilder();
        sorted.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
        return Hashing.sha256(sb.toString().getBytes(StandardCharsets.UTF_8));
    }
}
