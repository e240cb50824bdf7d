package io.optune.jobs;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.reward.GoldRewardModel;
import io.optune.operators.weights.WeightLogTokenizer;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.operators.batch.BatchOperator;
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
import io.optune.operators.score.AsyncModelScoreFunction;
import io.optune.operators.score.AsyncScoreFunction;
import io.optune.operators.score.HttpRewardConfig;
import io.optune.operators.score.ScoreFunction;
import io.optune.operators.score.ScoreResult;
import io.optune.operators.score.ScoreResultSplit;
import io.optune.operators.select.SelectFunction;
import io.optune.operators.train.ReferenceSource;
import io.optune.operators.select.SelectConfig;
import io.optune.engine.loop.AutoRho;
import io.optune.engine.loop.StreamSelector;
import io.optune.operators.train.TrainFunction;
import io.optune.operators.train.TrainOperator;
import io.optune.connectors.checkpoint.FlinkCheckpointFiles;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;

/**
 * The OPTune data path, read top to bottom like the paper:
 * ingest -> select -> generate -> score -> pair -> batch -> train -> policy updates, with two
 * feedback edges coming in through {@link Connections}: policy updates to the generators
 * (broadcast) and response memory from the pair step to the select step (keyed).
 *
 * <p><b>Checkpoints.</b> Flink checkpoints forward and broadcast edges aligned, and then every other
 * input of the same task too. With all tasks at parallelism 1, unpartitioned edges would be forward,
 * and the ledger and dead-letter sinks (four inputs each) would align while the trainer, reached by
 * unaligned barriers through keyed edges, went on filling their blocked channels: the trainer then
 * waits on the sink, the generator on the trainer, and the sink on the generator's barrier, for good
 * (checkpoint 3 of an embedded run, 0 of 9 acknowledged). So every edge between tasks here is keyed or
 * rebalanced; only the generator still aligns (its broadcast policy-update input), and nothing
 * downstream of it aligns, so its alignment always ends.
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

    static SelectConfig selectConfig(ReadableConfig conf, long seed) {
        var fixed = OptuneOptions.fixedRho(conf);
        SelectConfig.Builder b = SelectConfig.builder(conf.get(OptuneOptions.SELECT_STRATEGY), fixed.orElse(conf.get(OptuneOptions.SELECT_AUTO_MAX)))
                .basis(RewardModels.scoreBasis(conf))
                .pairs(conf.get(OptuneOptions.MIN_GAP), conf.get(OptuneOptions.WEIGHTING), conf.get(OptuneOptions.BETA2))
                .rankedPrompts(conf.get(OptuneOptions.SELECT_WINDOW))
                .ttl(conf.get(OptuneOptions.SELECT_TTL))
                .inFlightTimeout(conf.get(OptuneOptions.SELECT_IN_FLIGHT_TIMEOUT))
                .limits(new StreamSelector.Limits(conf.get(OptuneOptions.SELECT_MAX_REUSES), conf.get(OptuneOptions.SELECT_MAX_STALENESS)))
                .seed(seed);
        if (fixed.isEmpty()) {
            b.autoRho(new AutoRho.Config(conf.get(OptuneOptions.SELECT_AUTO_MIN), conf.get(OptuneOptions.SELECT_AUTO_MAX),
                    conf.get(OptuneOptions.SELECT_AUTO_TARGET_IN_FLIGHT), conf.get(OptuneOptions.SELECT_AUTO_BUDGET)));
        }
        return b.build();
    }

    public static Streams build(ReadableConfig conf, Connections io) {
        int maxPromptTokens = conf.get(OptuneOptions.MAX_PROMPT_TOKENS);
        long seed = conf.get(OptuneOptions.SEED);
        int genParallelism = conf.get(OptuneOptions.GENERATE_PARALLELISM);

        // 1. ingest: parse and validate; bad records to dead letters
        SingleOutputStreamOperator<Prompt> prompts = io.prompts()
                .process(new IngestFunction(new WeightLogTokenizer(io.weightLog()), maxPromptTokens), TypeInformation.of(Prompt.class))
                .name("ingest").uid(Uids.INGEST);

        // 2. select: per-prompt response memory (keyed state), OPTune's rho rule
        SingleOutputStreamOperator<GenerationRequest> requests = prompts
                .keyBy(Prompt::id)
                .connect(io.memoryFeedback().keyBy(u -> u.promptId()))
                .process(new SelectFunction(selectConfig(conf, seed)),
                        TypeInformation.of(GenerationRequest.class))
                .name("select-prompts").uid(Uids.SELECT);

        // 3. generate: micro-batched sampling with the newest broadcast policy version
        SamplingConfig sampling = new SamplingConfig(conf.get(OptuneOptions.TEMPERATURE).floatValue(),
                conf.get(OptuneOptions.TOP_P).floatValue(), conf.get(OptuneOptions.MAX_NEW_TOKENS), conf.get(OptuneOptions.SAMPLES));
        // Edges between tasks are partitioned (rebalance or keyBy), not forward: see "Checkpoints" above.
        SingleOutputStreamOperator<Generation> generations = requests
                .rebalance()
                .connect(io.policyUpdates().broadcast())
                .transform("generate", TypeInformation.of(Generation.class),
                        new GenerateOperator(io.weightLog(), sampling, maxPromptTokens, conf.get(OptuneOptions.GENERATE_BATCH),
                                conf.get(OptuneOptions.GENERATE_DELAY).toMillis(), seed)
                                .onDevice(device(conf, OptuneOptions.GENERATE_DEVICE))
                                .colocated(conf.get(OptuneOptions.ENGINE_COLOCATE))
                                .withPrecision(OptuneOptions.precision(conf)))
                .uid(Uids.GENERATE).setParallelism(genParallelism);

        // 4. score: batched reward-model calls with timeout and retries (in-process, or a remote service)
        ScoreStep score = scoreStep(conf, generations, genParallelism);
        SingleOutputStreamOperator<ScoredGeneration> scored = score.scored();

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
            DataStream<PreferencePair> audited = userText == UserText.FULL ? pairs.rebalance()
                    : pairs.rebalance().map(userText::apply, TypeInformation.of(PreferencePair.class)).name("hash-audit-text").uid(Uids.HASH_AUDIT_TEXT);
            audited.sinkTo(io.pairAuditSink()).name("pair-audit-sink").uid(Uids.PAIR_AUDIT_SINK);
        }

        // 6. batch: size- and time-triggered training batches (checkpointed buffer)
        SingleOutputStreamOperator<PreferenceBatch> batches = pairs
                .keyBy(p -> BatchOperator.KEY, TypeInformation.of(Integer.class))
                .transform("batch", TypeInformation.of(PreferenceBatch.class),
                        new BatchOperator(conf.get(OptuneOptions.BATCH_SIZE), conf.get(OptuneOptions.BATCH_DELAY).toMillis()))
                .name("batch").uid(Uids.BATCH).setParallelism(1).setMaxParallelism(1);

        // 7. train: weighted DPO; publishes versions to the weight log and emits policy updates
        DpoConfig dpo = new DpoConfig(conf.get(OptuneOptions.LOSS), conf.get(OptuneOptions.BETA).floatValue(),
                conf.get(OptuneOptions.NLL_WEIGHT).floatValue(),
                AdamWConfig.of(conf.get(OptuneOptions.LEARNING_RATE).floatValue())
                        .withWarmup(conf.get(OptuneOptions.WARMUP))
                        .withMaxGradNorm(conf.get(OptuneOptions.MAX_GRAD_NORM).floatValue()))
                .withPrecision(OptuneOptions.precision(conf));
        SingleOutputStreamOperator<PolicyUpdate> updates = batches
                .transform("train", TypeInformation.of(PolicyUpdate.class), new TrainOperator(new TrainFunction(io.weightLog(), dpo,
                        conf.get(OptuneOptions.PUBLISH_EVERY))
                        .onDevice(device(conf, OptuneOptions.TRAIN_DEVICE))
                        .colocated(conf.get(OptuneOptions.ENGINE_COLOCATE))
                        .withWeightsDtype(conf.get(OptuneOptions.WEIGHTS_DTYPE).stored())
                        .withPublication(conf.get(OptuneOptions.WEIGHTS_PUBLICATION))
                        .withAsyncSnapshot(conf.get(OptuneOptions.ASYNC_SNAPSHOT))
                        .withReference(referenceSource(conf))
                        .withReferenceRefresh(conf.get(OptuneOptions.REFERENCE_REFRESH_EVERY), conf.get(OptuneOptions.REFERENCE_MIXUP))))
                .name("train").uid(Uids.TRAIN).setParallelism(1).setMaxParallelism(1);

        // 8. evaluate (built-in task): held-out reward of published versions, beside the trainer, never on its thread
        io.optune.operators.evaluate.HeldOutEvaluation heldOut = HeldOutEvaluator.evaluation(conf, io.weightLog());
        if (heldOut != null) {
            // Not keyed: it holds no state (a keyed step's timers churned RocksDB files for the whole run).
            updates.rebalance()
                    .transform("evaluate", TypeInformation.of(PolicyUpdate.class), new io.optune.operators.evaluate.EvaluateOperator(heldOut))
                    .uid(Uids.EVALUATE).setParallelism(1).setMaxParallelism(1)
                    .sinkTo(new org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink<>())
                    .name("evaluations").uid(Uids.EVALUATIONS_SINK).setParallelism(1);
        }

        if (io.policyUpdateSink() != null) {
            updates.sinkTo(io.policyUpdateSink()).name("policy-update-topic").uid(Uids.POLICY_UPDATE_SINK);
        }

        DataStream<DeadLetter> deadLetters = prompts.getSideOutput(IngestFunction.DEAD_LETTERS)
                .union(generations.getSideOutput(GenerateOperator.DEAD_LETTERS), score.deadLetters())
                .rebalance();
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
                                .uid(Uids.DEAD_LETTER_OUTCOMES))
                .rebalance();
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

    /** A role's device option, else optune.engine.device. */
    static String device(ReadableConfig conf, org.apache.flink.configuration.ConfigOption<String> role) {
        return conf.getOptional(role).orElse(conf.get(OptuneOptions.ENGINE_DEVICE));
    }

    /** The score step's outputs: scored generations, and generations that could not be scored. */
    record ScoreStep(SingleOutputStreamOperator<ScoredGeneration> scored, DataStream<DeadLetter> deadLetters) {}

    /** Step 4 for the configured reward: in-process ({@link ScoreFunction}) or a remote service through async I/O. */
    static ScoreStep scoreStep(ReadableConfig conf, DataStream<Generation> generations, int parallelism) {
        if (conf.get(OptuneOptions.REWARD_TYPE) == OptuneOptions.RewardType.HTTP) {
            HttpRewardConfig http = httpRewardConfig(conf);
            int attempts = conf.get(OptuneOptions.REWARD_HTTP_MAX_ATTEMPTS);
            Duration maxBackoff = conf.get(OptuneOptions.REWARD_HTTP_MAX_BACKOFF);
            return asyncScoreStep(generations, new AsyncScoreFunction(http), AsyncScoreFunction.operatorTimeout(http, attempts, maxBackoff),
                    conf.get(OptuneOptions.REWARD_HTTP_CAPACITY),
                    AsyncScoreFunction.retryStrategy(attempts, conf.get(OptuneOptions.REWARD_HTTP_BACKOFF), maxBackoff),
                    "score-http", Uids.SCORE_HTTP, Uids.SCORE_HTTP_SPLIT, parallelism);
        }
        if (conf.get(OptuneOptions.REWARD_TYPE).learned()) {
            // A learned model's forward pass is heavy: batched across generations, on its own thread (async I/O).
            int batch = conf.get(OptuneOptions.REWARD_BATCH_SIZE);
            int k = conf.get(OptuneOptions.SAMPLES);
            Duration delay = conf.get(OptuneOptions.REWARD_BATCH_MAX_DELAY);
            int attempts = conf.get(OptuneOptions.SCORE_ATTEMPTS);
            Duration backoff = Duration.ofMillis(200);
            Duration maxBackoff = Duration.ofSeconds(2);
            // Room for the batch in the model and the next one filling behind it.
            int capacity = Math.max(8, 3 * ((batch + k - 1) / k));
            return asyncScoreStep(generations, new AsyncModelScoreFunction(rewardModel(conf), batch, delay),
                    AsyncModelScoreFunction.operatorTimeout(conf.get(OptuneOptions.SCORE_TIMEOUT), delay, capacity, k, batch, attempts, maxBackoff),
                    capacity, AsyncScoreFunction.retryStrategy(attempts, backoff, maxBackoff),
                    "score-model", Uids.SCORE_MODEL, Uids.SCORE_MODEL_SPLIT, parallelism);
        }
        // The built-in verifier costs microseconds: scored in line.
        SingleOutputStreamOperator<ScoredGeneration> scored = generations
                .process(new ScoreFunction(rewardModel(conf), conf.get(OptuneOptions.SCORE_TIMEOUT), conf.get(OptuneOptions.SCORE_ATTEMPTS)),
                        TypeInformation.of(ScoredGeneration.class))
                .name("score").uid(Uids.SCORE).setParallelism(parallelism);
        return new ScoreStep(scored, scored.getSideOutput(ScoreFunction.DEAD_LETTERS));
    }

    /**
     * Step 4 through Flink async I/O ({@code name}, then {@code name}-split, which sends failures to the
     * dead letters). Unordered: pairs do not depend on arrival order; generations in flight are part of
     * the checkpoint and are scored again after a restore.
     */
    private static ScoreStep asyncScoreStep(DataStream<Generation> generations,
            org.apache.flink.streaming.api.functions.async.AsyncFunction<Generation, ScoreResult> fn, Duration timeout, int capacity,
            org.apache.flink.streaming.api.functions.async.AsyncRetryStrategy<ScoreResult> retry, String name, String uid, String splitUid,
            int parallelism) {
        SingleOutputStreamOperator<ScoreResult> results = AsyncDataStream.unorderedWaitWithRetry(generations, fn, timeout.toMillis(),
                        TimeUnit.MILLISECONDS, capacity, retry)
                .returns(TypeInformation.of(ScoreResult.class))
                .name(name).uid(uid).setParallelism(parallelism);
        SingleOutputStreamOperator<ScoredGeneration> scored = results
                .process(new ScoreResultSplit(), TypeInformation.of(ScoredGeneration.class))
                .name(name + "-split").uid(splitUid).setParallelism(parallelism);
        return new ScoreStep(scored, scored.getSideOutput(ScoreResultSplit.DEAD_LETTERS));
    }

    /** The remote reward service's settings from optune.reward.http.* (checked by the builder). */
    static HttpRewardConfig httpRewardConfig(ReadableConfig conf) {
        String url = conf.getOptional(OptuneOptions.REWARD_HTTP_URL)
                .orElseThrow(() -> new IllegalArgumentException("optune.reward.type HTTP needs optune.reward.http.url"));
        URI uri;
        try {
            uri = new URI(url);
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException("optune.reward.http.url is not a URL: " + e.getMessage(), e);
        }
        return HttpRewardConfig.builder(uri)
                .setProtocol(conf.get(OptuneOptions.REWARD_HTTP_PROTOCOL))
                .optScoresPath(conf.getOptional(OptuneOptions.REWARD_HTTP_SCORES_PATH).orElse(null))
                .optTeiLabel(conf.getOptional(OptuneOptions.REWARD_HTTP_TEI_LABEL).orElse(null))
                .optTeiRawScores(conf.get(OptuneOptions.REWARD_HTTP_TEI_RAW_SCORES))
                .setBatchMaxResponses(conf.get(OptuneOptions.REWARD_HTTP_BATCH_MAX_RESPONSES))
                .setBatchMaxDelay(conf.get(OptuneOptions.REWARD_HTTP_BATCH_MAX_DELAY))
                .setMaxInFlight(conf.get(OptuneOptions.REWARD_HTTP_MAX_IN_FLIGHT))
                .setRequestTimeout(conf.get(OptuneOptions.REWARD_HTTP_TIMEOUT))
                .optTokenEnv(conf.getOptional(OptuneOptions.REWARD_HTTP_TOKEN_ENV).orElse(null))
                .optTokenFile(conf.getOptional(OptuneOptions.REWARD_HTTP_TOKEN_FILE).orElse(null))
                .optTrustStore(conf.getOptional(OptuneOptions.REWARD_HTTP_TRUST_STORE).orElse(null),
                        conf.getOptional(OptuneOptions.REWARD_HTTP_TRUST_STORE_PASSWORD).orElse(null))
                .optGzipRequests(conf.get(OptuneOptions.REWARD_HTTP_GZIP))
                .build();
    }

    static RewardModelFactory rewardModel(ReadableConfig conf) {
        return RewardModels.factory(conf);
    }

    /** {@code optune.reference.checkpoint} as the trainer's reference source, or null (the starting policy). */
    static ReferenceSource referenceSource(ReadableConfig conf) {
        String dir = conf.getOptional(OptuneOptions.REFERENCE_CHECKPOINT).orElse(null);
        return dir == null ? null : () -> FlinkCheckpointFiles.of(dir);
    }
}
