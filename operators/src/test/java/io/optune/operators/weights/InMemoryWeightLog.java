package io.optune.operators.weights;

import io.optune.engine.checkpoint.CheckpointFiles;
import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/** A weight log in memory for operator tests; instances with the same name share contents. */
public final class InMemoryWeightLog implements WeightLog {
    private static final long serialVersionUID = 1L;
    /** Version directories by location, each its files by name. */
    private static final Map<String, Map<String, Map<String, byte[]>>> DIRS = new ConcurrentHashMap<>();
    private static final Map<String, List<PolicyUpdate>> VERSIONS = new ConcurrentHashMap<>();

    private final String name;
    /** When true, publish fails (a read-only store). */
    public volatile boolean readOnly;

    public InMemoryWeightLog() {
        this.name = UUID.randomUUID().toString();
        DIRS.put(name, new ConcurrentHashMap<>());
        VERSIONS.put(name, new ArrayList<>());
    }

    @Override
    public synchronized PolicyUpdate stage(PolicyUpdate u, VersionWriter writer) throws IOException {
        if (readOnly) {
            throw new IOException("read-only weight store");
        }
        String location = "mem://" + name + "/v" + u.version();
        if (isRetained(u)) {
            throw new IOException("version " + u.version() + " already published");
        }
        Map<String, byte[]> files = new ConcurrentHashMap<>();
        writer.write(new CheckpointFiles() {
            @Override
            public OutputStream create(String file) {
                return new ByteArrayOutputStream() {
                    @Override
                    public void close() {
                        files.put(file, toByteArray());
                    }
                };
            }

            @Override
            public InputStream open(String file) throws IOException {
                byte[] b = files.get(file);
                if (b == null) {
                    throw new FileNotFoundException(file);
                }
                return new ByteArrayInputStream(b);
            }

            @Override
            public boolean exists(String file) {
                return files.containsKey(file);
            }

            @Override
            public String describe() {
                return location;
            }
        });
        Map<String, String> hashes = new TreeMap<>();
        files.forEach((f, b) -> hashes.put(f, Hashing.sha256(b)));
        // Staged versions count (as in the file-system log): they are committed in order.
        long parent = java.util.stream.LongStream.concat(VERSIONS.get(name).stream().mapToLong(PolicyUpdate::version),
                DIRS.get(name).keySet().stream().mapToLong(l -> Long.parseLong(l.substring(l.lastIndexOf("/v") + 2))))
                .filter(v -> v < u.version()).max().orElse(-1);
        byte[] manifest = VersionManifest.of(u, parent, hashes).bytes();
        files.put(VersionManifest.FILE, manifest);
        DIRS.get(name).put(location, files);
        PolicyUpdate announced = new PolicyUpdate(u.version(), u.step(), location, Hashing.sha256(manifest), u.publishedAt(),
                u.loss(), u.margin(), u.logRatioMean(), u.reward(), u.freshFraction(), u.heldOutReward());
        return announced;
    }

    @Override
    public synchronized PolicyUpdate commit(PolicyUpdate staged) throws IOException {
        if (!DIRS.get(name).containsKey(staged.location())) {
            throw new IOException("version " + staged.version() + " was not staged");
        }
        if (!isRetained(staged)) {
            VERSIONS.get(name).add(staged);
        }
        return staged;
    }

    /** Replaces one file of a version directory (to simulate tampering). */
    public void overwrite(String location, String file, byte[] bytes) {
        DIRS.get(name).get(location).put(file, bytes);
    }

    @Override
    public InputStream open(String location, String file) throws IOException {
        Map<String, byte[]> dir = DIRS.get(name).get(location);
        byte[] b = dir == null ? null : dir.get(file);
        if (b == null) {
            throw new FileNotFoundException("no " + file + " at " + location);
        }
        return new ByteArrayInputStream(b);
    }

    @Override
    public synchronized List<PolicyUpdate> versions() {
        return new ArrayList<>(VERSIONS.get(name));
    }

    /** Removes a version, files and announcement, as a log's retention does. */
    public synchronized void prune(PolicyUpdate u) {
        DIRS.get(name).remove(u.location());
        VERSIONS.get(name).removeIf(v -> v.version() == u.version());
    }

    @Override
    public synchronized boolean isRetained(PolicyUpdate u) {
        return VERSIONS.get(name).stream().anyMatch(v -> v.version() == u.version());
    }
}
