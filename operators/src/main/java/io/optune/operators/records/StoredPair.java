package io.optune.operators.records;

import io.optune.engine.loop.ResponseMemory;

/**
 * A prompt's response memory as it travels through the stream (a Flink POJO; {@link ResponseMemory}
 * is the engine's form).
 */
public record StoredPair(String chosen, double chosenReward, String rejected, double rejectedReward, double latestReward,
        long policyVersion) {

    public static StoredPair of(ResponseMemory m) {
        return m == null ? null : new StoredPair(m.chosen(), m.chosenReward(), m.rejected(), m.rejectedReward(), m.latestReward(),
                m.policyVersion());
    }

    public ResponseMemory toMemory() {
        return new ResponseMemory(chosen, chosenReward, rejected, rejectedReward, latestReward, policyVersion);
    }
}
