package io.optune.connectors.kafka;

import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

import java.util.Properties;
import java.util.regex.Pattern;

/**
 * JSON records (values, UTF-8) from Kafka: the live prompt feed, or the policy-update topic read back as
 * the generators' feedback. For the prompt feed:
 *
 * <pre>{@code
 * KafkaSource<String> prompts = KafkaPromptSource.builder()
 *         .setBootstrapServers("kafka:9092")
 *         .setTopics("prompts")
 *         .setGroupId("optune")
 *         .optStartingOffsets(StartingOffsets.COMMITTED_OR_EARLIEST)
 *         .optProperties(saslProperties) // passed through to the consumer, never logged here
 *         .build();
 * }</pre>
 *
 * Offsets are part of Flink's checkpoints; they are also committed to the group on checkpoint
 * completion so that monitoring shows the lag.
 */
public final class KafkaPromptSource {
    private KafkaPromptSource() {}

    /** Where a new consumer group starts. */
    public enum StartingOffsets {
        EARLIEST,
        LATEST,
        /** The group's committed offsets, or the earliest where it has none. */
        COMMITTED_OR_EARLIEST
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder of the prompt source. */
    public static final class Builder {
        private String bootstrapServers;
        private String[] topics;
        private Pattern topicPattern;
        private String groupId;
        private StartingOffsets startingOffsets = StartingOffsets.COMMITTED_OR_EARLIEST;
        private final Properties properties = new Properties();

        public Builder setBootstrapServers(String servers) {
            this.bootstrapServers = servers;
            return this;
        }

        public Builder setTopics(String... topics) {
            this.topics = topics;
            return this;
        }

        public Builder setTopicPattern(Pattern pattern) {
            this.topicPattern = pattern;
            return this;
        }

        public Builder setGroupId(String groupId) {
            this.groupId = groupId;
            return this;
        }

        public Builder optStartingOffsets(StartingOffsets offsets) {
            this.startingOffsets = offsets;
            return this;
        }

        /** Extra consumer properties (security.protocol, sasl.*, ssl.*, ...). */
        public Builder optProperties(Properties extra) {
            this.properties.putAll(extra);
            return this;
        }

        /** Reads only committed records (for topics written by transactional, exactly-once producers). */
        public Builder optReadCommitted() {
            this.properties.setProperty("isolation.level", "read_committed");
            return this;
        }

        public KafkaSource<String> build() {
            if (bootstrapServers == null || bootstrapServers.isBlank()) {
                throw new IllegalArgumentException("Kafka prompt source: bootstrap servers are required");
            }
            if ((topics == null || topics.length == 0) == (topicPattern == null)) {
                throw new IllegalArgumentException("Kafka prompt source: set either topics or a topic pattern");
            }
            if (groupId == null || groupId.isBlank()) {
                throw new IllegalArgumentException("Kafka prompt source: a consumer group id is required");
            }
            KafkaSourceBuilder<String> b = KafkaSource.<String>builder()
                    .setBootstrapServers(bootstrapServers)
                    .setGroupId(groupId)
                    .setValueOnlyDeserializer(new SimpleStringSchema())
                    .setProperties(properties)
                    .setProperty("commit.offsets.on.checkpoint", "true");
            if (topicPattern != null) {
                b.setTopicPattern(topicPattern);
            } else {
                b.setTopics(topics);
            }
            switch (startingOffsets) {
                case EARLIEST:
                    b.setStartingOffsets(OffsetsInitializer.earliest());
                    break;
                case LATEST:
                    b.setStartingOffsets(OffsetsInitializer.latest());
                    break;
                default:
                    b.setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST));
            }
            return b.build();
        }
    }
}
