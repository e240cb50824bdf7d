package io.optune.operators.weights;

import io.optune.engine.Json;
import io.optune.operators.records.PolicyUpdate;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code optune.json}, the manifest of a published version directory: the version, its training
 * step and parent, the metrics of its announcement, and the SHA-256 of every other file. The
 * announcement's SHA-256 and the publisher's signature cover these bytes, so they cover every file.
 *
 * @param files SHA-256 by file name (plain names only)
 * @param metrics finite metrics of the announcement (loss, margin, ...); NaN ones are left out
 */
public record VersionManifest(String format, long version, long step, long parent, long publishedAt,
        Map<String, Double> metrics, Map<String, String> files) {
    public static final String FORMAT = "optune-version/1";
    public static final String FILE = "optune.json";

    public VersionManifest {
        metrics = Map.copyOf(metrics);
        files = Map.copyOf(files);
    }

    public static VersionManifest of(PolicyUpdate u, long parent, Map<String, String> files) {
        Map<String, Double> m = new LinkedHashMap<>();
        put(m, "loss", u.loss());
        put(m, "margin", u.margin());
        put(m, "logRatioMean", u.logRatioMean());
        put(m, "reward", u.reward());
        put(m, "freshFraction", u.freshFraction());
        put(m, "heldOutReward", u.heldOutReward());
        return new VersionManifest(FORMAT, u.version(), u.step(), parent, u.publishedAt(), m, files);
    }

    private static void put(Map<String, Double> m, String k, double v) {
        if (Double.isFinite(v)) {
            m.put(k, v);
        }
    }

    /** Stable bytes (keys sorted), pretty-printed for people who open the directory. */
    public byte[] bytes() {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("format", format);
        o.put("version", version);
        o.put("step", step);
        o.put("parent", parent);
        o.put("publishedAt", publishedAt);
        o.put("metrics", new TreeMap<>(metrics));
        o.put("files", new TreeMap<>(files));
        try {
            return Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(o).getBytes(StandardCharsets.UTF_8);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Parses and checks a manifest.
     *
     * @throws UntrustedVersionException when it is damaged, of another format, or names a file outside its directory
     */
    public static VersionManifest parse(byte[] bytes, String where) throws UntrustedVersionException {
        VersionManifest m;
        try {
            m = Json.read(new String(bytes, StandardCharsets.UTF_8), VersionManifest.class);
        } catch (RuntimeException e) {
            throw new UntrustedVersionException(where + ": damaged manifest " + FILE + ": " + e.getMessage(), e);
        }
        if (!FORMAT.equals(m.format())) {
            throw new UntrustedVersionException(where + ": manifest format '" + m.format() + "', expected " + FORMAT);
        }
        for (Map.Entry<String, String> f : m.files().entrySet()) {
            if (!isPlainName(f.getKey()) || f.getKey().equals(FILE)) {
                throw new UntrustedVersionException(where + ": manifest names an invalid file '" + f.getKey() + "'");
            }
            if (f.getValue() == null || !f.getValue().matches("[0-9a-f]{64}")) {
                throw new UntrustedVersionException(where + ": manifest has no valid SHA-256 for " + f.getKey());
            }
        }
        return m;
    }

    /** A file name without any path part, not hidden. */
    public static boolean isPlainName(String name) {
        return !name.isEmpty() && !name.startsWith(".") && !name.contains("/") && !name.contains("\\") && !name.contains(":");
    }
}
