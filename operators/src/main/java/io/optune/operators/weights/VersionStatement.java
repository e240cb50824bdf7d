package io.optune.operators.weights;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a publisher vouches for when it signs a policy version: the version number, the version it
 * was trained from (its parent; -1 for the first), the SHA-256 of the version's manifest
 * ({@code optune.json}, which holds the SHA-256 of every file; named {@code snapshot-sha256} in the
 * statement text) and the SHA-256 of the training configuration that produced it.
 *
 * <p>The signed bytes are {@link #text()}: a few {@code key=value} lines in a fixed order, so that a
 * serving team can check a version with stock tools (see docs/SECURITY.md) without our code. The
 * version number is inside the signature, so an old snapshot and its signature replayed under a new
 * number are refused.
 */
public record VersionStatement(long version, long parent, String snapshotSha256, String configSha256) {
    static final String HEADER = "optune-policy-version/1";

    public VersionStatement {
        if (version < 0 || parent < -1 || parent >= version) {
            throw new IllegalArgumentException("invalid version " + version + " with parent " + parent);
        }
        requireHex("snapshot sha256", snapshotSha256);
        requireHex("config sha256", configSha256);
    }

    /** The exact text that is signed (UTF-8, '\n' line ends, a final newline). */
    public String text() {
        return HEADER + "\n"
                + "version=" + version + "\n"
                + "parent=" + parent + "\n"
                + "snapshot-sha256=" + snapshotSha256 + "\n"
                + "config-sha256=" + configSha256 + "\n";
    }

    public byte[] bytes() {
        return text().getBytes(StandardCharsets.UTF_8);
    }

    /** Parses {@link #text()}; anything else is refused. */
    public static VersionStatement parse(String text) {
        String[] lines = text.split("\n", -1);
        if (lines.length != 6 || !HEADER.equals(lines[0]) || !lines[5].isEmpty()) {
            throw new IllegalArgumentException("not an optune version statement");
        }
        Map<String, String> v = new LinkedHashMap<>();
        for (int i = 1; i < 5; i++) {
            int eq = lines[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("malformed statement line: " + lines[i]);
            }
            v.put(lines[i].substring(0, eq), lines[i].substring(eq + 1));
        }
        VersionStatement s = new VersionStatement(parseLong(v, "version"), parseLong(v, "parent"), v.get("snapshot-sha256"),
                v.get("config-sha256"));
        if (!s.text().equals(text)) { // fixed key order, nothing extra
            throw new IllegalArgumentException("not a canonical optune version statement");
        }
        return s;
    }

    private static long parseLong(Map<String, String> v, String key) {
        String s = v.get(key);
        if (s == null) {
            throw new IllegalArgumentException("statement lacks " + key);
        }
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("statement " + key + " is not a number: " + s);
        }
    }

    private static void requireHex(String what, String s) {
        if (s == null || !s.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException(what + " must be 64 lower-case hex digits");
        }
    }
}
