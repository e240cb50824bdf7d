package io.optune.jobs;

import java.util.List;

import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.reward.GoldRewardModel;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.operators.batch.BatchFunction;
import io.optune.operators.generate.GenerateOperator;
import io.optune.operators.ingest.IngestFunction;
import io.optune.operators.pairs.PairFunction;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.UserText;
import io.optune.connectors.files.RetentionSweeper;
import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferenceBatch;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.records.ScoredGeneration;
import io.optune.operators.score.RewardModelFactory;
import io.optune.operators.score.ScoreFunction;
import io.optune.operators.select.SelectFunction;
import io.optune.operators.train.TrainFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;

/**
 * The OPTune data path, read top to bottom like the paper:
 * ingest -> select -> generate -> score -> pair -> batch -> train -> policy updates, with two
 * feedback edges coming in through {@link Connections}: policy updates to the generators
 * (broadcast) and response memory from the pair step to the select step (keyed).
 */
public final class OptuneTopology {
    private OptuneTopology() {}

    /** Streams a caller may attach sinks to (tests, audits). */
    public record Streams(
            DataStream<PolicyUpdate> policyUpdates,
            DataStream<PreferencePair> pairs,
            DataStream<Generation> generations,
            DataStream<DeadLetter> deadLetters,
            DataStream<PromptOutcome> ledger) {}

    public static Streams build(ReadableConfig conf, Connections io) {
        int maxPromptTokens = conf.get(OptuneOptions.MAX_PROMPT_TOKENS);
        long seed = conf.get(OptuneOptions.SEED);
        int genParallelism = conf.get(OptuneOptions.GENERATE_PARALLELISM);

        // 1. ingest: parse and validate; bad records to dead letters
        SingleOutputStreamOperator<Prompt> prompts = io.prompts()
                .process(new IngestFunction(new CharTokenizer(), maxPromptTokens), TypeInformation.of(Prompt.class))
                .name("ingest").uid(Uids.INGEST);

        // 2. select: per-prompt response memory (keyed state), OPTune's rho rule
        SingleOutputStreamOperator<GenerationRequest> requests = prompts
                .keyBy(Prompt::id)
                .connect(io.memoryFeedback().keyBy(u -> u.promptId()))
                .process(new SelectFunction(conf.get(OptuneOptions.SELECT_STRATEGY), conf.get(OptuneOptions.SELECT_RHO),
                        conf.get(OptuneOptions.SELECT_SCORE_BASIS), conf.get(OptuneOptions.MIN_GAP),
                        conf.get(OptuneOptions.WEIGHTING), conf.get(OptuneOptions.BETA2),
                        conf.get(OptuneOptions.SELECT_WINDOW), conf.get(OptuneOptions.SELECT_TTL),
                        conf.get(OptuneOptions.SELECT_IN_FLIGHT_TIMEOUT), seed),
                        TypeInformation.of(GenerationRequest.class))
                .name("select-prompts").uid(Uids.SELECT);

        // 3. generate: micro-batched sampling with the newest broadcast policy version
        SamplingConfig sampling = new SamplingConfig(conf.get(OptuneOptions.TEMPERATURE).floatValue(),
                conf.get(OptuneOptions.TOP_P).floatValue(), conf.get(OptuneOptions.MAX_NEW_TOKENS), conf.get(OptuneOptions.SAMPLES));
        SingleOutputStreamOperator<Generation> generations = requests
                .connect(io.policyUpdates().broadcast())
                .transform("generate", TypeInformation.of(Generation.class),
                        new GenerateOperator(io.weightLog(), sampling, maxPromptTokens, conf.get(OptuneOptions.GENERATE_BATCH),
                                conf.get(OptuneOptions.GENERATE_DELAY).toMillis(), seed))
                .uid(Uids.GENERATE).setParallelism(genParallelism);

        // 4. score: batched reward-model calls with timeout and retries
        SingleOutputStreamOperator<ScoredGeneration> scored = generations
                .process(new ScoreFunction(rewardModel(conf), conf.get(OptuneOptions.SCORE_TIMEOUT), conf.get(OptuneOptions.SCORE_ATTEMPTS)),
                        TypeInformation.of(ScoredGeneration.class))
                .name("score").uid(Uids.SCORE).setParallelism(genParallelism);

        // 5. pair: merge with memory, weight by gap; new memory goes back to select
        SingleOutputStreamOperator<PreferencePair> freshPairs = scored
                .process(new PairFunction(conf.get(OptuneOptions.MIN_GAP), conf.get(OptuneOptions.WEIGHTING), conf.get(OptuneOptions.BETA2)),
                        TypeInformation.of(PreferencePair.class))
                .name("build-pairs").uid(Uids.PAIRS).setParallelism(genParallelism);
        freshPairs.getSideOutput(PairFunction.MEMORY_UPDATES)
                .sinkTo(io.memoryFeedbackSink()).name("memory-feedback-sink").uid(Uids.MEMORY_FEEDBACK_SINK);

        DataStream<PreferencePair> pairs = freshPairs.union(requests.getSideOutput(SelectFunction.REUSED_PAIRS));
        UserText userText = conf.get(OptuneOptions.AUDIT_USER_TEXT);
        if (io.pairAuditSink() != null) {
            DataStream<PreferencePair> audited = userText == UserText.FULL ? pairs
                    : pairs.map(userText::apply, TypeInformation.of(PreferencePair.class)).name("hash-audit-text").uid(Uids.HASH_AUDIT_TEXT);
            audited.sinkTo(io.pairAuditSink()).name("pair-audit-sink").uid(Uids.PAIR_AUDIT_SINK);
        }

        // 6. batch: size- and time-triggered training batches (checkpointed buffer)
        SingleOutputStreamOperator<PreferenceBatch> batches = pairs
                .keyBy(p -> 0, TypeInformation.of(Integer.class))
                .process(new BatchFunction(conf.get(OptuneOptions.BATCH_SIZE), conf.get(OptuneOptions.BATCH_DELAY).toMillis()),
                        TypeInformation.of(PreferenceBatch.class))
                .name("batch").uid(Uids.BATCH).setParallelism(1).setMaxParallelism(1);

        // 7. train: weighted DPO; publishes versions to the weight log and emits policy updates
        DpoConfig dpo = new DpoConfig(conf.get(OptuneOptions.LOSS), conf.get(OptuneOptions.BETA).floatValue(),
                conf.get(OptuneOptions.NLL_WEIGHT).floatValue(),
                AdamWConfig.of(conf.get(OptuneOptions.LEARNING_RATE).floatValue())
                        .withWarmup(conf.get(OptuneOptions.WARMUP))
                        .withMaxGradNorm(conf.get(OptuneOptions.MAX_GRAD_NORM).floatValue()));
        int heldOut = conf.get(OptuneOptions.SOURCE_TYPE) == OptuneOptions.SourceType.BUILTIN ? conf.get(OptuneOptions.HELD_OUT_SIZE) : 0;
        SingleOutputStreamOperator<PolicyUpdate> updates = batches
                .process(new TrainFunction(io.weightLog(), dpo, conf.get(OptuneOptions.PUBLISH_EVERY), maxPromptTokens,
                        heldOut, conf.get(OptuneOptions.MAX_NEW_TOKENS), seed), TypeInformation.of(PolicyUpdate.class))
                .name("train").uid(Uids.TRAIN).setParallelism(1).setMaxParallelism(1);

        if (io.policyUpdateSink() != null) {
            updates.sinkTo(io.policyUpdateSink()).name("policy-update-topic").uid(Uids.POLICY_UPDATE_SINK);
        }

        DataStream<DeadLetter> deadLetters = prompts.getSideOutput(IngestFunction.DEAD_LETTERS)
                .union(generations.getSideOutput(GenerateOperator.DEAD_LETTERS), scored.getSideOutput(ScoreFunction.DEAD_LETTERS));
        DataStream<DeadLetter> stored = userText == UserText.FULL ? deadLetters
                : deadLetters.map(userText::apply, TypeInformation.of(DeadLetter.class)).name("hash-dead-letter-text").uid(Uids.HASH_DEAD_LETTER_TEXT);
        if (conf.getOptional(OptuneOptions.AUDIT_RETENTION).isPresent()) {
            List<String> dirs = new java.util.ArrayList<>();
            conf.getOptional(OptuneOptions.DEAD_LETTER_PATH).ifPresent(dirs::add);
            conf.getOptional(OptuneOptions.PAIRS_AUDIT_PATH).ifPresent(dirs::add);
            stored = stored.transform("audit-retention", TypeInformation.of(DeadLetter.class),
                            new RetentionSweeper<DeadLetter>(dirs, conf.get(OptuneOptions.AUDIT_RETENTION), conf.get(OptuneOptions.AUDIT_RETENTION_CHECK)))
                    .uid(Uids.AUDIT_RETENTION).setParallelism(1);
        }
        stored.sinkTo(io.deadLetterSink()).name("dead-letter-sink").uid(Uids.DEAD_LETTER_SINK);

        // The prompt ledger: every arrival ends once, as trained (train), skipped (select, pair,
        // train) or dead-lettered (any step).
        DataStream<PromptOutcome> ledger = updates.getSideOutput(PromptOutcome.LEDGER)
                .union(requests.getSideOutput(PromptOutcome.LEDGER), freshPairs.getSideOutput(PromptOutcome.LEDGER),
                        deadLetters.map(PromptOutcome::of, TypeInformation.of(PromptOutcome.class)).name("dead-letter-outcomes")
                                .uid(Uids.DEAD_LETTER_OUTCOMES));
        if (io.ledgerSink() != null) {
            DataStream<PromptOutcome> ledgerOut = ledger;
            if (conf.getOptional(OptuneOptions.LEDGER_RETENTION).isPresent() && conf.getOptional(OptuneOptions.LEDGER_PATH).isPresent()) {
                ledgerOut = ledger.transform("ledger-retention", TypeInformation.of(PromptOutcome.class),
                                new RetentionSweeper<PromptOutcome>(List.of(conf.get(OptuneOptions.LEDGER_PATH)),
                                        conf.get(OptuneOptions.LEDGER_RETENTION), conf.get(OptuneOptions.AUDIT_RETENTION_CHECK)))
                        .uid(Uids.LEDGER_RETENTION).setParallelism(1);
            }
            ledgerOut.sinkTo(io.ledgerSink()).name("prompt-ledger-sink").uid(Uids.LEDGER_SINK);
        }
        return new Streams(updates, pairs, generations, deadLetters, ledger);
    }

    static RewardModelFactory rewardModel(ReadableConfig conf) {
        switch (conf.get(OptuneOptions.REWARD_MODEL)) {
            case GOLD:
                return GoldRewardModel::new;
            default:
                throw new IllegalArgumentException("unsupported reward model " + conf.get(OptuneOptions.REWARD_MODEL));
        }
    }
}
