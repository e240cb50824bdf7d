package io.optune.operators.weights;

import io.optune.engine.Json;
import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PolicySignatureTest {
    private static final String CONFIG_SHA = Hashing.sha256("optune.train.beta: 0.1".getBytes(StandardCharsets.UTF_8));

    @TempDir
    Path dir;

    private static PolicyUpdate announced(long version, byte[] snapshot) {
        return new PolicyUpdate(version, version * 10, "mem://v" + version, Hashing.sha256(snapshot), 1L, 0, 0, 0, 0, 0, Double.NaN);
    }

    private PolicySigner signer(Path keys) throws Exception {
        SigningKeys.generateInto(keys);
        return new PolicySigner(keys.resolve(SigningKeys.PRIVATE_FILE).toString(), CONFIG_SHA);
    }

    private static byte[] sign(PolicySigner signer, long version, long parent, byte[] snapshot) throws Exception {
        return signer.sign(new VersionStatement(version, parent, Hashing.sha256(snapshot), CONFIG_SHA));
    }

    @Test
    void aSignedVersionVerifiesAndNamesItsParentAndConfiguration() throws Exception {
        PolicySigner signer = signer(dir);
        PolicyVerifier verifier = PolicyVerifier.fromFile(dir.resolve(SigningKeys.PUBLIC_FILE));
        byte[] snapshot = {1, 2, 3};
        VersionStatement s = verifier.verify(announced(7, snapshot), snapshot, sign(signer, 7, 6, snapshot));
        assertThat(s).isEqualTo(new VersionStatement(7, 6, Hashing.sha256(snapshot), CONFIG_SHA));
        assertThat(verifier.keyId()).hasSize(16).isEqualTo(SigningKeys.keyId(SigningKeys.readPublic(dir.resolve(SigningKeys.PUBLIC_FILE))));
    }

    @Test
    void aTamperedSnapshotWithARecomputedHashIsRefused() throws Exception {
        PolicySigner signer = signer(dir);
        PolicyVerifier verifier = PolicyVerifier.fromFile(dir.resolve(SigningKeys.PUBLIC_FILE));
        byte[] genuine = {1, 2, 3};
        byte[] signature = sign(signer, 3, 2, genuine);
        byte[] forged = {6, 6, 6};
        // The attacker rewrote the manifest and the announcement's hash, but cannot re-sign.
        assertThatThrownBy(() -> verifier.verify(announced(3, forged), forged, signature))
                .isInstanceOf(UntrustedVersionException.class).hasMessageContaining("altered version");
        // Without the recomputed hash the announcement check alone refuses it.
        assertThatThrownBy(() -> verifier.verify(announced(3, genuine), forged, signature))
                .isInstanceOf(UntrustedVersionException.class).hasMessageContaining("differs from the announced");
    }

    @Test
    void anOldVersionReplayedUnderANewNumberIsRefused() throws Exception {
        PolicySigner signer = signer(dir);
        PolicyVerifier verifier = PolicyVerifier.fromFile(dir.resolve(SigningKeys.PUBLIC_FILE));
        byte[] old = {4, 4};
        byte[] signatureOfV2 = sign(signer, 2, 1, old);
        assertThatThrownBy(() -> verifier.verify(announced(9, old), old, signatureOfV2))
                .isInstanceOf(UntrustedVersionException.class).hasMessageContaining("signature of version 2");
    }

    @Test
    void aVersionSignedByAnotherKeyOrNotSignedOrWithADamagedSignatureIsRefused() throws Exception {
        PolicyVerifier trusted = new PolicyVerifier(SigningKeys.generate().getPublic());
        PolicySigner other = signer(dir);
        byte[] snapshot = {5};
        byte[] signature = sign(other, 1, 0, snapshot);
        assertThatThrownBy(() -> trusted.verify(announced(1, snapshot), snapshot, signature))
                .isInstanceOf(UntrustedVersionException.class).hasMessageContaining("not signed by the trusted key " + trusted.keyId());
        assertThatThrownBy(() -> trusted.verify(announced(1, snapshot), snapshot, null))
                .isInstanceOf(UntrustedVersionException.class).hasMessageContaining("is not signed");
        assertThatThrownBy(() -> trusted.verify(announced(1, snapshot), snapshot, "{\"format\":".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(UntrustedVersionException.class).hasMessageContaining("damaged signature file");
        // A genuine signature whose statement text was edited (version number bumped) no longer verifies.
        PolicyVerifier otherVerifier = PolicyVerifier.fromFile(dir.resolve(SigningKeys.PUBLIC_FILE));
        Map<String, Object> f = Json.readMap(new String(signature, StandardCharsets.UTF_8));
        f.put("statement", String.valueOf(f.get("statement")).replace("version=1\n", "version=2\n"));
        byte[] edited = Json.write(f).getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> otherVerifier.verify(announced(2, snapshot), snapshot, edited))
                .isInstanceOf(UntrustedVersionException.class).hasMessageContaining("not signed by the trusted key");
    }

    @Test
    void statementsAreCanonical() {
        VersionStatement s = new VersionStatement(3, -1, CONFIG_SHA, CONFIG_SHA);
        assertThat(VersionStatement.parse(s.text())).isEqualTo(s);
        assertThatThrownBy(() -> VersionStatement.parse(s.text() + "extra=1\n")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> VersionStatement.parse(s.text().replace("version=3", "version=03")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new VersionStatement(3, 3, CONFIG_SHA, CONFIG_SHA)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new VersionStatement(3, 2, "ABC", CONFIG_SHA)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void keysAreNeverOverwrittenAndThePrivateKeyIsOwnerOnly() throws Exception {
        SigningKeys.generateInto(dir);
        assertThatThrownBy(() -> SigningKeys.generateInto(dir)).hasMessageContaining("not overwriting");
        assertThat(Files.getPosixFilePermissions(dir.resolve(SigningKeys.PRIVATE_FILE)))
                .containsExactlyInAnyOrder(java.nio.file.attribute.PosixFilePermission.OWNER_READ, java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
        assertThatThrownBy(() -> SigningKeys.readPrivate(dir.resolve(SigningKeys.PUBLIC_FILE)))
                .hasMessageContaining("holds no 'PRIVATE KEY' PEM block");
        // A damaged key names the file, never its contents.
        Path damaged = Files.writeString(dir.resolve("damaged.key"), "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n");
        assertThatThrownBy(() -> SigningKeys.readPrivate(damaged)).hasMessageContaining("not an Ed25519 private key")
                .hasMessageNotContaining("c2VjcmV0");
    }

    /** Serving teams can check a version with stock OpenSSL (docs/SECURITY.md); this is that recipe. */
    @Test
    void openSslVerifiesOurSignatures() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl not installed");
        PolicySigner signer = signer(dir);
        byte[] snapshot = {9, 8, 7};
        Map<String, Object> f = Json.readMap(new String(sign(signer, 4, 3, snapshot), StandardCharsets.UTF_8));
        Path statement = Files.writeString(dir.resolve("statement.txt"), String.valueOf(f.get("statement")));
        Path sig = Files.write(dir.resolve("sig.bin"), Base64.getDecoder().decode(String.valueOf(f.get("signature"))));
        assertThat(openssl(statement, sig)).isZero();
        Files.writeString(statement, String.valueOf(f.get("statement")).replace("version=4", "version=5"));
        assertThat(openssl(statement, sig)).isNotZero();
    }

    private int openssl(Path statement, Path sig) throws Exception {
        Process p = new ProcessBuilder("/usr/bin/openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                dir.resolve(SigningKeys.PUBLIC_FILE).toString(), "-rawin", "-in", statement.toString(), "-sigfile", sig.toString())
                .redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return p.exitValue();
    }
}
