package io.optune.connectors.builtin;

import io.optune.engine.Json;
import io.optune.engine.task.PromptFeed;
import io.optune.engine.task.TaskPrompt;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The built-in task feed as a Flink source of JSON prompt records: a recurring pool of prompts with
 * new ones arriving ({@link PromptFeed}), rate limited. Record {@code i} is a pure function of the
 * seed and {@code i}, and the source checkpoints its position, so replays after a failure are exact.
 */
public final class BuiltinPromptSource {
    private BuiltinPromptSource() {}

    public static DataGeneratorSource<String> create(long seed, int poolSize, double newRate, long count, double promptsPerSecond) {
        return create(seed, poolSize, newRate, io.optune.engine.task.BuiltinTask.DEFAULT_MAX_OPERAND, count, promptsPerSecond);
    }

    /** As above, for the task with string operands of up to {@code maxOperand} letters. */
    public static DataGeneratorSource<String> create(long seed, int poolSize, double newRate, int maxOperand, long count,
            double promptsPerSecond) {
        return new DataGeneratorSource<>(new FeedFunction(seed, poolSize, newRate, maxOperand), count,
                RateLimiterStrategy.perSecond(promptsPerSecond), Types.STRING);
    }

    static final class FeedFunction implements GeneratorFunction<Long, String> {
        private static final long serialVersionUID = 1L;
        private final long seed;
        private final int poolSize;
        private final double newRate;
        private final int maxOperand;
        private transient PromptFeed feed;

        FeedFunction(long seed, int poolSize, double newRate, int maxOperand) {
            this.seed = seed;
            this.poolSize = poolSize;
            this.newRate = newRate;
            this.maxOperand = maxOperand;
        }

        @Override
        public String map(Long index) {
            if (feed == null) {
                feed = new PromptFeed(seed, poolSize, newRate, maxOperand);
            }
            TaskPrompt p = feed.at(index);
            Map<String, Object> record = new LinkedHashMap<>();
            record.put("id", p.id());
            // The generator's index names the arrival: replayed after a restore, it keeps its id.
            record.put("request_id", "builtin-" + seed + "-" + index);
            record.put("text", p.text());
            record.put("tenant", "builtin");
            return Json.write(record);
        }
    }
}
