package io.optune.jobs;

import io.optune.connectors.builtin.BuiltinPromptSource;
import io.optune.connectors.files.JsonLinesFeedback;
import io.optune.connectors.kafka.KafkaPolicyUpdateSink;
import io.optune.connectors.kafka.KafkaPromptSource;
import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.connectors.weights.PolicyUpdateSources;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.MemoryUpdate;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The job's edges to the outside world, passed into {@link OptuneTopology#build} so tests (and later
 * deployments) can swap them: the raw prompt records, the policy-update feedback, the memory
 * feedback (source and sink), the dead-letter sink and the weight log; optionally the policy-update
 * topic, the pair audit and the prompt ledger (null when not configured).
 */
public record Connections(
        DataStream<String> prompts,
        DataStream<PolicyUpdate> policyUpdates,
        DataStream<MemoryUpdate> memoryFeedback,
        Sink<MemoryUpdate> memoryFeedbackSink,
        Sink<DeadLetter> deadLetterSink,
        WeightLog weightLog,
        Sink<PolicyUpdate> policyUpdateSink,
        Sink<PreferencePair> pairAuditSink,
        Sink<PromptOutcome> ledgerSink) {

    /** The same connections with another prompt stream (tests inject faults here). */
    public Connections withPrompts(DataStream<String> otherPrompts) {
        return new Connections(otherPrompts, policyUpdates, memoryFeedback, memoryFeedbackSink, deadLetterSink, weightLog,
                policyUpdateSink, pairAuditSink, ledgerSink);
    }

    /**
     * Fails fast, with a clear message, when the configured Kafka broker is unreachable, refuses the
     * credentials or lacks a topic the job needs (topic patterns are not checked).
     */
    public static void preflight(Configuration conf) {
        java.util.List<String> topics = new java.util.ArrayList<>();
        if (conf.get(OptuneOptions.SOURCE_TYPE) == OptuneOptions.SourceType.KAFKA) {
            conf.getOptional(OptuneOptions.KAFKA_PROMPTS_TOPIC).ifPresent(topics::add);
        }
        conf.getOptional(OptuneOptions.KAFKA_UPDATES_TOPIC).ifPresent(topics::add);
        if (!topics.isEmpty() || conf.get(OptuneOptions.SOURCE_TYPE) == OptuneOptions.SourceType.KAFKA) {
            io.optune.connectors.kafka.KafkaPreflight.check(conf.get(OptuneOptions.KAFKA_BOOTSTRAP), topics,
                    JobConfig.kafkaProperties(conf), java.time.Duration.ofSeconds(15));
        }
    }

    /** File-system edges: weight log and feedback directories, the configured prompt source. */
    public static Connections fileSystem(StreamExecutionEnvironment env, Configuration conf, FileSystemWeightLog weightLog,
            String feedbackDir, String deadLetterDir) {
        java.util.Properties kafka = JobConfig.kafkaProperties(conf);
        DataStream<String> prompts;
        switch (conf.get(OptuneOptions.SOURCE_TYPE)) {
            case BUILTIN:
                prompts = env.fromSource(BuiltinPromptSource.create(conf.get(OptuneOptions.SEED),
                                conf.get(OptuneOptions.BUILTIN_POOL_SIZE), conf.get(OptuneOptions.BUILTIN_NEW_RATE),
                                conf.get(OptuneOptions.BUILTIN_MAX_OPERAND), conf.getOptional(OptuneOptions.BUILTIN_COUNT).orElse(Long.MAX_VALUE), conf.get(OptuneOptions.BUILTIN_RATE)),
                        WatermarkStrategy.noWatermarks(), "prompt-source");
                break;
            case JSONL:
                String path = conf.getOptional(OptuneOptions.SOURCE_PATH).orElseThrow(() ->
                        new IllegalArgumentException("optune.source.type JSONL needs optune.source.path"));
                prompts = env.fromSource(JsonLinesFeedback.jsonLines(path, conf.get(OptuneOptions.SOURCE_WATCH_INTERVAL)),
                        WatermarkStrategy.noWatermarks(), "prompt-source");
                break;
            case KAFKA:
                KafkaPromptSource.Builder kb = KafkaPromptSource.builder()
                        .setBootstrapServers(conf.get(OptuneOptions.KAFKA_BOOTSTRAP))
                        .setGroupId(conf.get(OptuneOptions.KAFKA_GROUP))
                        .optStartingOffsets(conf.get(OptuneOptions.KAFKA_OFFSETS))
                        .optProperties(kafka);
                conf.getOptional(OptuneOptions.KAFKA_PROMPTS_TOPIC).ifPresent(kb::setTopics);
                conf.getOptional(OptuneOptions.KAFKA_PROMPTS_PATTERN).ifPresent(p -> kb.setTopicPattern(java.util.regex.Pattern.compile(p)));
                prompts = env.fromSource(kb.build(), WatermarkStrategy.noWatermarks(), "prompt-source");
                break;
            default:
                throw new IllegalArgumentException("unsupported source " + conf.get(OptuneOptions.SOURCE_TYPE));
        }
        prompts = ((org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator<String>) prompts).uid(Uids.PROMPT_SOURCE);

        boolean fromTopic = conf.get(OptuneOptions.KAFKA_UPDATES_FEEDBACK) && conf.getOptional(OptuneOptions.KAFKA_UPDATES_TOPIC).isPresent();
        DataStream<PolicyUpdate> updates = (fromTopic
                        ? env.fromSource(KafkaPromptSource.builder()
                                        .setBootstrapServers(conf.get(OptuneOptions.KAFKA_BOOTSTRAP))
                                        .setTopics(conf.get(OptuneOptions.KAFKA_UPDATES_TOPIC))
                                        .setGroupId(conf.get(OptuneOptions.KAFKA_GROUP) + "-policy-updates")
                                        .optStartingOffsets(KafkaPromptSource.StartingOffsets.EARLIEST)
                                        .optProperties(kafka)
                                        .optReadCommitted()
                                        .build(),
                                WatermarkStrategy.noWatermarks(), "policy-update-source")
                        : env.fromSource(PolicyUpdateSources.announcements(weightLog, conf.get(OptuneOptions.WEIGHTS_POLL)),
                                WatermarkStrategy.noWatermarks(), "policy-update-source"))
                .uid(fromTopic ? Uids.POLICY_UPDATE_TOPIC_SOURCE : Uids.POLICY_UPDATE_SOURCE)
                .setParallelism(1)
                .map(FileSystemWeightLog::parse, TypeInformation.of(PolicyUpdate.class))
                .name("parse-policy-updates").uid(Uids.PARSE_POLICY_UPDATES).setParallelism(1);

        DataStream<MemoryUpdate> memory = env.fromSource(
                        JsonLinesFeedback.source(feedbackDir, conf.get(OptuneOptions.FEEDBACK_POLL)),
                        WatermarkStrategy.noWatermarks(), "memory-feedback-source")
                .uid(Uids.MEMORY_FEEDBACK_SOURCE)
                .flatMap(new ParseMemoryUpdates(), TypeInformation.of(MemoryUpdate.class))
                .name("parse-memory-updates").uid(Uids.PARSE_MEMORY_UPDATES);

        Sink<PolicyUpdate> updateSink = conf.getOptional(OptuneOptions.KAFKA_UPDATES_TOPIC)
                .map(topic -> (Sink<PolicyUpdate>) KafkaPolicyUpdateSink.builder()
                        .setBootstrapServers(conf.get(OptuneOptions.KAFKA_BOOTSTRAP))
                        .setTopic(topic)
                        .optDeliveryGuarantee(conf.get(OptuneOptions.KAFKA_UPDATES_GUARANTEE).guarantee())
                        .optProperties(kafka)
                        .build())
                .orElse(null);
        Sink<PreferencePair> pairSink = conf.getOptional(OptuneOptions.PAIRS_AUDIT_PATH)
                .map(path -> (Sink<PreferencePair>) JsonLinesFeedback.<PreferencePair>sink(path))
                .orElse(null);
        Sink<PromptOutcome> ledgerSink = conf.getOptional(OptuneOptions.LEDGER_PATH)
                .map(path -> (Sink<PromptOutcome>) JsonLinesFeedback.<PromptOutcome>sink(path))
                .orElse(null);
        return new Connections(prompts, updates, memory, JsonLinesFeedback.sink(feedbackDir),
                JsonLinesFeedback.sink(deadLetterDir), weightLog, updateSink, pairSink, ledgerSink);
    }

    /**
     * Reads the memory-feedback lines; a line of another layout (texts where token ids are expected,
     * written before layout 2) is skipped with a warning, not retried forever: its prompt is generated afresh.
     */
    static final class ParseMemoryUpdates implements org.apache.flink.api.common.functions.FlatMapFunction<String, MemoryUpdate> {
        private static final long serialVersionUID = 1L;
        private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ParseMemoryUpdates.class);
        private transient long skipped;

        @Override
        public void flatMap(String line, org.apache.flink.util.Collector<MemoryUpdate> out) {
            java.util.Optional<MemoryUpdate> u = MemoryUpdate.parse(line);
            if (u.isPresent()) {
                out.collect(u.get());
            } else if (++skipped <= 10 || Long.bitCount(skipped) == 1) {
                LOG.warn("Skipped {} memory-feedback line(s) that are not token-id memory updates (an older layout?), e.g. '{}'",
                        skipped, line.length() <= 120 ? line : line.substring(0, 120) + "...");
            }
        }
    }
}
