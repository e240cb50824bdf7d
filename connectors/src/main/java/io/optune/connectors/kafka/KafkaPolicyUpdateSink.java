package io.optune.connectors.kafka;

import io.optune.engine.Json;
import io.optune.operators.records.PolicyUpdate;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;

import java.nio.charset.StandardCharsets;
import java.util.Properties;

/**
 * The stream of published policy versions written to a Kafka topic as JSON, keyed by version, so a
 * serving fleet or an evaluator can follow them. With {@link DeliveryGuarantee#EXACTLY_ONCE} records
 * are written in transactions committed with Flink's checkpoints; consumers should read with
 * {@code isolation.level=read_committed}.
 *
 * <pre>{@code
 * KafkaSink<PolicyUpdate> sink = KafkaPolicyUpdateSink.builder()
 *         .setBootstrapServers("kafka:9092").setTopic("optune-policy-updates")
 *         .optDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE).optTransactionalIdPrefix("optune")
 *         .build();
 * }</pre>
 */
public final class KafkaPolicyUpdateSink {
    private KafkaPolicyUpdateSink() {}

    /** Record key: the version number (one partition per topic keeps versions in order). */
    static final class VersionKey implements SerializationSchema<PolicyUpdate> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] serialize(PolicyUpdate u) {
            return Long.toString(u.version()).getBytes(StandardCharsets.UTF_8);
        }
    }

    /** Record value: the update as JSON. */
    static final class JsonValue implements SerializationSchema<PolicyUpdate> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] serialize(PolicyUpdate u) {
            return Json.write(u).getBytes(StandardCharsets.UTF_8);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder of the policy-update sink. */
    public static final class Builder {
        private String bootstrapServers;
        private String topic;
        private DeliveryGuarantee guarantee = DeliveryGuarantee.AT_LEAST_ONCE;
        private String transactionalIdPrefix = "optune-policy-updates";
        private final Properties properties = new Properties();

        public Builder setBootstrapServers(String servers) {
            this.bootstrapServers = servers;
            return this;
        }

        public Builder setTopic(String topic) {
            this.topic = topic;
            return this;
        }

        public Builder optDeliveryGuarantee(DeliveryGuarantee guarantee) {
            this.guarantee = guarantee;
            return this;
        }

        public Builder optTransactionalIdPrefix(String prefix) {
            this.transactionalIdPrefix = prefix;
            return this;
        }

        /** Extra producer properties (security settings and the like). */
        public Builder optProperties(Properties extra) {
            this.properties.putAll(extra);
            return this;
        }

        public KafkaSink<PolicyUpdate> build() {
            if (bootstrapServers == null || bootstrapServers.isBlank() || topic == null || topic.isBlank()) {
                throw new IllegalArgumentException("Kafka policy-update sink: bootstrap servers and a topic are required");
            }
            Properties p = new Properties();
            p.putAll(properties);
            // Brokers cap transactions at 15 minutes by default; Flink's producer default (1 h) would be refused.
            p.putIfAbsent("transaction.timeout.ms", "600000");
            String t = topic;
            return KafkaSink.<PolicyUpdate>builder()
                    .setBootstrapServers(bootstrapServers)
                    .setKafkaProducerConfig(p)
                    .setDeliveryGuarantee(guarantee)
                    .setTransactionalIdPrefix(transactionalIdPrefix)
                    .setRecordSerializer(KafkaRecordSerializationSchema.<PolicyUpdate>builder()
                            .setTopic(t)
                            .setKeySerializationSchema(new VersionKey())
                            .setValueSerializationSchema(new JsonValue())
                            .build())
                    .build();
        }
    }
}
