package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.PolicyVerifier;
import io.optune.operators.weights.UntrustedVersionException;
import io.optune.operators.weights.VersionStatement;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Serving-side check of a published version in a local copy of the weight log, with the job jar alone
 * (no Flink, no DJL): {@code bin/optune-verify WEIGHT_LOG_DIR PUBLIC_KEY_PEM [VERSION]}. Exit status 0
 * when the version's snapshot matches its announcement and carries a valid signature of the key,
 * 1 when it is refused, 2 on bad arguments.
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
            Path snapshot = local(root, update.location());
            Path signature = root.resolve(FileSystemWeightLog.SIGNATURES).resolve(String.format("v%012d.json", update.version()));
            VersionStatement s = verifier.verify(update, Files.readAllBytes(snapshot),
                    Files.exists(signature) ? Files.readAllBytes(signature) : null);
            out.printf("policy version %d: OK, signed by key %s (parent %d, snapshot sha256 %s, config sha256 %s)%n",
                    s.version(), verifier.keyId(), s.parent(), s.snapshotSha256(), s.configSha256());
            return 0;
        } catch (UntrustedVersionException e) {
            out.println("REFUSED: " + e.getMessage());
            return 1;
        } catch (IOException | RuntimeException e) {
            err.println("error: " + e.getMessage());
            return 2;
        }
    }

    private static Path newest(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().matches("v\\d{12}\\.json")).max(Path::compareTo)
                    .orElseThrow(() -> new IOException("no announced versions in " + dir));
        }
    }

    /** The snapshot in this copy of the log (its announced location may be the original store's). */
    private static Path local(Path root, String location) {
        String name = location.substring(location.lastIndexOf('/') + 1);
        return root.resolve(FileSystemWeightLog.SNAPSHOTS).resolve(name);
    }
}
