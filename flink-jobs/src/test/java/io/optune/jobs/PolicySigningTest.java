package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.SigningKeys;
import io.optune.operators.weights.VerifiedVersion;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PolicySigningTest {
    @TempDir
    Path dir;

    private static PolicyUpdate update(long v) {
        return new PolicyUpdate(v, v, null, null, 1L, 0, 0, 0, 0, 0, Double.NaN);
    }

    private static io.optune.operators.weights.VersionWriter files(int weights) {
        return d -> {
            try (var out = d.create("model.safetensors")) {
                out.write(weights);
            }
            try (var out = d.create("config.json")) {
                out.write('{');
                out.write('}');
            }
        };
    }

    private String verify(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int rc = VerifyVersion.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(out, true, StandardCharsets.UTF_8));
        return rc + " " + out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void anEmbeddedRunMakesAThrowAwayKeyOnceAndServingCanVerifyItsVersions() throws Exception {
        Configuration conf = new Configuration();
        Path keys = dir.resolve("keys");
        String weights = dir.resolve("weights").toUri().toString();
        FileSystemWeightLog log = PolicySigning.weightLog(conf, Map.of("optune.train.beta", "0.1"), weights, keys);
        log.initialize();
        assertThat(log.verifiesSignatures()).isTrue();
        String firstKey = Files.readString(keys.resolve(SigningKeys.PUBLIC_FILE));
        log.publish(update(0), files(1));
        log.publish(update(1), files(2));
        // A resumed run reuses its key: versions signed before stay valid.
        FileSystemWeightLog resumed = PolicySigning.weightLog(conf, Map.of("optune.train.beta", "0.1"), weights, keys);
        assertThat(Files.readString(keys.resolve(SigningKeys.PUBLIC_FILE))).isEqualTo(firstKey);
        try (VerifiedVersion v = resumed.readVerified(resumed.latest().orElseThrow())) {
            assertThat(Files.readAllBytes(v.dir().resolve("model.safetensors"))).containsExactly(2);
        }

        String pub = keys.resolve(SigningKeys.PUBLIC_FILE).toString();
        assertThat(verify(dir.resolve("weights").toString(), pub)).startsWith("0 policy version 1: OK, signed by key");
        assertThat(verify(dir.resolve("weights").toString(), pub, "0")).startsWith("0 policy version 0: OK").contains("parent -1");
        assertThat(verify(dir.resolve("weights").toString(), pub, "1")).contains("2 files checked");
        Path v1 = dir.resolve("weights").resolve("versions").resolve(String.format("v%012d", 1));
        // Any file of the directory, not just the manifest, is covered.
        Files.write(v1.resolve("config.json"), new byte[] {9});
        assertThat(verify(dir.resolve("weights").toString(), pub, "1")).startsWith("1 REFUSED: policy version 1: config.json has SHA-256");
        Files.delete(v1.resolve("config.json"));
        assertThat(verify(dir.resolve("weights").toString(), pub, "1")).startsWith("1 REFUSED: missing file");
        Files.write(v1.resolve("optune.json"), new byte[] {9});
        assertThat(verify(dir.resolve("weights").toString(), pub, "1")).startsWith("1 REFUSED: policy version 1: manifest SHA-256");
        assertThat(verify(dir.resolve("weights").toString())).startsWith("2 ");
    }

    @Test
    void aClusterJobWithoutKeysIsRefusedUnlessSigningIsTurnedOffExplicitly() throws Exception {
        Configuration conf = new Configuration();
        String weights = dir.resolve("weights").toUri().toString();
        assertThatThrownBy(() -> PolicySigning.weightLog(conf, Map.of(), weights, null))
                .hasMessageContaining("optune.weights.signing.public-key is not set")
                .hasMessageContaining("optune.weights.signing.enabled=false");
        conf.set(OptuneOptions.SIGNING_ENABLED, false);
        assertThat(PolicySigning.weightLog(conf, Map.of(), weights, null).verifiesSignatures()).isFalse();
    }

    @Test
    void keysThatAreNotOnePairAreRefusedAtStartWithoutShowingThem() throws Exception {
        SigningKeys.generateInto(dir.resolve("a"));
        SigningKeys.generateInto(dir.resolve("b"));
        Configuration conf = new Configuration();
        conf.set(OptuneOptions.SIGNING_PRIVATE_KEY, dir.resolve("a").resolve(SigningKeys.PRIVATE_FILE).toString());
        conf.set(OptuneOptions.SIGNING_PUBLIC_KEY, dir.resolve("b").resolve(SigningKeys.PUBLIC_FILE).toString());
        String secret = Files.readString(dir.resolve("a").resolve(SigningKeys.PRIVATE_FILE)).split("\n")[1];
        assertThatThrownBy(() -> PolicySigning.weightLog(conf, Map.of(), dir.toUri().toString(), null))
                .hasMessageContaining("are not one key pair").hasMessageNotContaining(secret);
    }

    @Test
    void theConfigurationHashCoversTrainingOptionsButNotSecretsOrKeyPaths() {
        String base = PolicySigning.configSha256(Map.of("optune.train.beta", "0.1"));
        assertThat(PolicySigning.configSha256(Map.of("optune.train.beta", "0.2"))).isNotEqualTo(base);
        assertThat(PolicySigning.configSha256(Map.of("optune.train.beta", "0.1",
                "optune.kafka.properties.sasl.jaas.config", "secret",
                "optune.weights.signing.private-key", "/keys/k",
                "execution.checkpointing.interval", "2s"))).isEqualTo(base);
    }
}
