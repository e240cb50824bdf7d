package io.optune.operators.weights;

import io.optune.engine.Json;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Signs policy versions where the trainer runs. It carries only the <em>path</em> of the private key
 * (a file, e.g. a mounted Kubernetes Secret), never the key itself, so the key stays out of the job
 * graph, the configuration and the logs; the key is read on first use in the process that publishes.
 */
public final class PolicySigner implements Serializable {
    private static final long serialVersionUID = 1L;

    private final String privateKeyPath;
    private final String configSha256;
    private transient PrivateKey key;

    /**
     * @param privateKeyPath PKCS#8 PEM Ed25519 private key, readable where the trainer runs
     * @param configSha256 SHA-256 of the training configuration, vouched for in every signature
     */
    public PolicySigner(String privateKeyPath, String configSha256) {
        if (privateKeyPath == null || privateKeyPath.isBlank()) {
            throw new IllegalArgumentException("the policy signer needs a private key file");
        }
        this.privateKeyPath = privateKeyPath;
        this.configSha256 = configSha256;
    }

    public String configSha256() {
        return configSha256;
    }

    /** The signature file's contents for a statement: JSON with the statement text and its signature. */
    public byte[] sign(VersionStatement statement) throws IOException {
        try {
            Signature s = Signature.getInstance(SigningKeys.ALGORITHM);
            s.initSign(key());
            s.update(statement.bytes());
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("format", PolicyVerifier.FORMAT);
            out.put("statement", statement.text());
            out.put("signature", Base64.getEncoder().encodeToString(s.sign()));
            return Json.write(out).getBytes(StandardCharsets.UTF_8);
        } catch (GeneralSecurityException e) {
            throw new IOException("could not sign policy version " + statement.version(), e);
        }
    }

    private PrivateKey key() throws IOException {
        if (key == null) {
            key = SigningKeys.readPrivate(Path.of(privateKeyPath));
        }
        return key;
    }
}
