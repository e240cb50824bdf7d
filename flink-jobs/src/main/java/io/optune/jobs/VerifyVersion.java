package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.PolicyVerifier;
import io.optune.operators.weights.UntrustedVersionException;
import io.optune.operators.weights.VersionManifest;
import io.optune.operators.weights.VersionStatement;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Serving-side check of a published version in a local copy of the weight log, with the job jar alone
 * (no Flink, no DJL): {@code bin/optune-verify WEIGHT_LOG_DIR PUBLIC_KEY_PEM [VERSION]}. Exit status 0
 * when the version's manifest ({@code optune.json}) matches its announcement, carries a valid
 * signature of the key, and every file of the version directory matches the manifest's SHA-256;
 * 1 when it is refused, 2 on bad arguments. The checked directory can then be served as it is.
 */
public final class VerifyVersion {
    private VerifyVersion() {}

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length < 2 || args.length > 3 || args[0].equals("--help")) {
            err.println("usage: optune-verify WEIGHT_LOG_DIR PUBLIC_KEY_PEM [VERSION]   (default: the newest version)");
            return 2;
        }
        try {
            Path root = Path.of(args[0]);
            PolicyVerifier verifier = PolicyVerifier.fromFile(Path.of(args[1]));
            Path announcement = args.length == 3
                    ? root.resolve(FileSystemWeightLog.ANNOUNCEMENTS).resolve(String.format("v%012d.json", Long.parseLong(args[2])))
                    : newest(root.resolve(FileSystemWeightLog.ANNOUNCEMENTS));
            PolicyUpdate update = FileSystemWeightLog.parse(Files.readString(announcement));
            Path dir = local(root, update.location());
            Path signature = root.resolve(FileSystemWeightLog.SIGNATURES).resolve(String.format("v%012d.json", update.version()));
            byte[] manifestBytes = Files.readAllBytes(dir.resolve(VersionManifest.FILE));
            VersionStatement s = verifier.verify(update, manifestBytes,
                    Files.exists(signature) ? Files.readAllBytes(signature) : null);
            VersionManifest manifest = VersionManifest.parse(manifestBytes, "policy version " + update.version());
            if (manifest.version() != update.version()) {
                throw new UntrustedVersionException("policy version " + update.version() + " has the manifest of version "
                        + manifest.version());
            }
            for (Map.Entry<String, String> f : manifest.files().entrySet()) {
                String actual = sha256(dir.resolve(f.getKey()));
                if (!actual.equals(f.getValue())) {
                    throw new UntrustedVersionException("policy version " + update.version() + ": " + f.getKey()
                            + " has SHA-256 " + actual + ", its manifest says " + f.getValue() + " (altered or damaged file)");
                }
            }
            out.printf("policy version %d: OK, signed by key %s (parent %d, manifest sha256 %s, %d files checked, "
                            + "config sha256 %s): %s%n",
                    s.version(), verifier.keyId(), s.parent(), Hashing.sha256(manifestBytes), manifest.files().size(),
                    s.configSha256(), dir);
            return 0;
        } catch (UntrustedVersionException e) {
            out.println("REFUSED: " + e.getMessage());
            return 1;
        } catch (java.nio.file.NoSuchFileException e) {
            out.println("REFUSED: missing file " + e.getFile());
            return 1;
        } catch (IOException | RuntimeException e) {
            err.println("error: " + e.getMessage());
            return 2;
        }
    }

    private static String sha256(Path file) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (InputStream in = new DigestInputStream(Files.newInputStream(file), md)) {
                in.transferTo(java.io.OutputStream.nullOutputStream());
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path newest(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().matches("v\\d{12}\\.json")).max(Path::compareTo)
                    .orElseThrow(() -> new IOException("no announced versions in " + dir));
        }
    }

    /** The version directory in this copy of the log (its announced location may be the original store's). */
    private static Path local(Path root, String location) {
        String trimmed = location.endsWith("/") ? location.substring(0, location.length() - 1) : location;
        String name = trimmed.substring(trimmed.lastIndexOf('/') + 1);
        if (!name.matches("v\\d{12}")) {
            throw new IllegalArgumentException("announced location " + location + " is not a version directory");
        }
        return root.resolve(FileSystemWeightLog.VERSIONS).resolve(name);
    }
}
