package io.optune.operators.weights;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.HexFormat;

/**
 * Ed25519 keys for signing policy versions, as PEM files (PKCS#8 private, X.509 public: the forms
 * {@code openssl genpkey -algorithm ed25519} writes and reads). Key material is never logged; only
 * the key id (the first 16 hex digits of the public key's SHA-256) is.
 */
public final class SigningKeys {
    public static final String ALGORITHM = "Ed25519";
    public static final String PRIVATE_FILE = "policy-signing.key";
    public static final String PUBLIC_FILE = "policy-signing.pub";

    private SigningKeys() {}

    public static KeyPair generate() {
        try {
            return KeyPairGenerator.getInstance(ALGORITHM).generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM has no Ed25519 (Java 15+ is required)", e);
        }
    }

    /**
     * Writes a new key pair into {@code dir} ({@value #PRIVATE_FILE} readable by the owner only,
     * {@value #PUBLIC_FILE}); refuses to overwrite existing keys.
     */
    public static KeyPair generateInto(Path dir) throws IOException {
        Path priv = dir.resolve(PRIVATE_FILE);
        Path pub = dir.resolve(PUBLIC_FILE);
        if (Files.exists(priv) || Files.exists(pub)) {
            throw new IOException("signing keys already exist in " + dir + "; not overwriting them");
        }
        Files.createDirectories(dir);
        KeyPair pair = generate();
        Files.writeString(pub, pem("PUBLIC KEY", pair.getPublic().getEncoded()));
        Files.createFile(priv);
        try {
            Files.setPosixFilePermissions(priv, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException ignored) {
            // not a POSIX file system
        }
        Files.writeString(priv, pem("PRIVATE KEY", pair.getPrivate().getEncoded()));
        return pair;
    }

    public static PrivateKey readPrivate(Path file) throws IOException {
        try {
            return KeyFactory.getInstance(ALGORITHM).generatePrivate(new PKCS8EncodedKeySpec(der(file, "PRIVATE KEY")));
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new IOException(file + " is not an Ed25519 private key in PKCS#8 PEM form", e);
        }
    }

    public static PublicKey readPublic(Path file) throws IOException {
        return publicKey(der(file, "PUBLIC KEY"), file.toString());
    }

    static PublicKey publicKey(byte[] der, String source) throws IOException {
        try {
            return KeyFactory.getInstance(ALGORITHM).generatePublic(new X509EncodedKeySpec(der));
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new IOException(source + " is not an Ed25519 public key in X.509 PEM form", e);
        }
    }

    /** Whether a signature made with {@code priv} verifies with {@code pub}. */
    public static boolean arePair(PrivateKey priv, PublicKey pub) {
        try {
            byte[] probe = "optune-key-pair-check".getBytes(StandardCharsets.US_ASCII);
            java.security.Signature s = java.security.Signature.getInstance(ALGORITHM);
            s.initSign(priv);
            s.update(probe);
            byte[] sig = s.sign();
            s.initVerify(pub);
            s.update(probe);
            return s.verify(sig);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /** The first 16 hex digits of the SHA-256 of the encoded public key. */
    public static String keyId(PublicKey key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getEncoded())).substring(0, 16);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    private static byte[] der(Path file, String type) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("key file " + file + " does not exist");
        }
        String text = Files.readString(file, StandardCharsets.US_ASCII);
        String begin = "-----BEGIN " + type + "-----";
        String end = "-----END " + type + "-----";
        int b = text.indexOf(begin);
        int e = text.indexOf(end);
        if (b < 0 || e < b) {
            throw new IOException(file + " holds no '" + type + "' PEM block");
        }
        try {
            return Base64.getMimeDecoder().decode(text.substring(b + begin.length(), e));
        } catch (IllegalArgumentException ex) {
            throw new IOException(file + " holds a damaged PEM block", ex);
        }
    }
}
