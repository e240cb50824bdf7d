package io.optune.operators.weights;

import io.optune.engine.Json;
import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.security.Signature;
import java.util.Base64;
import java.util.Map;

/**
 * Checks a published version before anyone loads it: the manifest's bytes must hash to what the
 * announcement says, and the signature must be the publisher's key over a statement naming exactly
 * this version number and this manifest (which holds the SHA-256 of every file of the version). Carries the public key (not a secret) so it can travel
 * inside operators.
 */
public final class PolicyVerifier implements Serializable {
    private static final long serialVersionUID = 1L;
    static final String FORMAT = "optune-signature/1";

    private final byte[] publicKey;
    private final String keyId;
    private transient PublicKey key;

    public PolicyVerifier(PublicKey key) {
        this.publicKey = key.getEncoded();
        this.keyId = SigningKeys.keyId(key);
        this.key = key;
    }

    public static PolicyVerifier fromFile(Path publicKeyPem) throws IOException {
        return new PolicyVerifier(SigningKeys.readPublic(publicKeyPem));
    }

    /** The first 16 hex digits of the public key's SHA-256 (safe to log). */
    public String keyId() {
        return keyId;
    }

    /**
     * @param signatureFile the signature file's contents, or null when there is none
     * @return the verified statement
     * @throws UntrustedVersionException when anything does not match
     */
    public VersionStatement verify(PolicyUpdate update, byte[] manifest, byte[] signatureFile) throws UntrustedVersionException {
        String actualSha = Hashing.sha256(manifest);
        if (!actualSha.equals(update.sha256())) {
            throw new UntrustedVersionException("policy version " + update.version() + ": manifest SHA-256 " + actualSha
                    + " differs from the announced " + update.sha256());
        }
        if (signatureFile == null) {
            throw new UntrustedVersionException("policy version " + update.version() + " is not signed");
        }
        VersionStatement statement;
        byte[] signature;
        try {
            Map<String, Object> f = Json.readMap(new String(signatureFile, StandardCharsets.UTF_8));
            if (!FORMAT.equals(f.get("format"))) {
                throw new IllegalArgumentException("unknown signature format " + f.get("format"));
            }
            statement = VersionStatement.parse(String.valueOf(f.get("statement")));
            signature = Base64.getDecoder().decode(String.valueOf(f.get("signature")));
        } catch (RuntimeException e) {
            throw new UntrustedVersionException("policy version " + update.version() + " has a damaged signature file: "
                    + e.getMessage(), e);
        }
        try {
            Signature s = Signature.getInstance(SigningKeys.ALGORITHM);
            s.initVerify(key());
            s.update(statement.bytes());
            if (!s.verify(signature)) {
                throw new UntrustedVersionException("policy version " + update.version()
                        + " is not signed by the trusted key " + keyId + " (wrong key or altered statement)");
            }
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new UntrustedVersionException("policy version " + update.version() + ": signature check failed: "
                    + e.getMessage(), e);
        }
        // The signature is genuine; now it must vouch for this very version and these bytes.
        if (statement.version() != update.version()) {
            throw new UntrustedVersionException("policy version " + update.version() + " carries the signature of version "
                    + statement.version() + " (replayed)");
        }
        if (!statement.snapshotSha256().equals(actualSha)) {
            throw new UntrustedVersionException("policy version " + update.version()
                    + ": the signed manifest SHA-256 differs from the file's (altered version)");
        }
        return statement;
    }

    private PublicKey key() throws GeneralSecurityException {
        if (key == null) {
            try {
                key = SigningKeys.publicKey(publicKey, "the verifier's key");
            } catch (IOException e) {
                throw new GeneralSecurityException(e.getMessage(), e);
            }
        }
        return key;
    }
}
