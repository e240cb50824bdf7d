package io.optune.operators.records;

import io.optune.engine.loop.Response;
import io.optune.engine.loop.ResponseMemory;

/**
 * A prompt's response memory as it travels through the stream and sits in the select step's keyed
 * state (a Flink POJO of primitive arrays and strings; {@link ResponseMemory} is the engine's form).
 * A reused pair trains on exactly these ids. The texts serve the pair audit of reused pairs.
 *
 * <p>Layout 2 (token ids); layout 1 held texts only and is not read back (the state names carry the
 * layout, see {@code SelectFunction#MEMORY_STATE}).
 *
 * @param promptIds the prompt's ids as the policy was fed them
 */
public record StoredPair(int[] promptIds, Response chosen, double chosenReward, Response rejected, double rejectedReward,
        double latestReward, long policyVersion) {

    public static StoredPair of(ResponseMemory m) {
        return m == null ? null : new StoredPair(m.prompt(), m.chosen(), m.chosenReward(), m.rejected(), m.rejectedReward(),
                m.latestReward(), m.policyVersion());
    }

    public ResponseMemory toMemory() {
        return new ResponseMemory(promptIds, chosen, chosenReward, rejected, rejectedReward, latestReward, policyVersion);
    }
}
