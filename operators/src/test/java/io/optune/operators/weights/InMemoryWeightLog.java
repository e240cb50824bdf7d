package io.optune.operators.weights;

import io.optune.engine.snapshot.Hashing;
import io.optune.operators.records.PolicyUpdate;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/** A weight log in memory for operator tests; instances with the same name share contents. */
public final class InMemoryWeightLog implements WeightLog {
    private static final long serialVersionUID = 1L;
    private static final Map<String, Map<String, byte[]>> FILES = new ConcurrentHashMap<>();
    private static final Map<String, List<PolicyUpdate>> VERSIONS = new ConcurrentHashMap<>();

    private final String name;
    /** When true, publish fails (a read-only store). */
    public volatile boolean readOnly;

    public InMemoryWeightLog() {
        this.name = UUID.randomUUID().toString();
        FILES.put(name, new ConcurrentHashMap<>());
        VERSIONS.put(name, new ArrayList<>());
    }

    @Override
    public synchronized PolicyUpdate publish(PolicyUpdate u, byte[] snapshot) throws IOException {
        if (readOnly) {
            throw new IOException("read-only weight store");
        }
        String location = "mem://" + name + "/v" + u.version();
        if (FILES.get(name).containsKey(location)) {
            throw new IOException("version " + u.version() + " already published");
        }
        FILES.get(name).put(location, snapshot.clone());
        PolicyUpdate announced = new PolicyUpdate(u.version(), u.step(), location, Hashing.sha256(snapshot), u.publishedAt(),
                u.loss(), u.margin(), u.logRatioMean(), u.reward(), u.freshFraction(), u.heldOutReward());
        VERSIONS.get(name).add(announced);
        return announced;
    }

    /** Replaces the bytes at a location (to simulate tampering). */
    public void overwrite(String location, byte[] bytes) {
        FILES.get(name).put(location, bytes);
    }

    @Override
    public byte[] read(String location) throws IOException {
        byte[] b = FILES.get(name).get(location);
        if (b == null) {
            throw new IOException("no snapshot at " + location);
        }
        return b.clone();
    }

    @Override
    public synchronized List<PolicyUpdate> versions() {
        return new ArrayList<>(VERSIONS.get(name));
    }
}
