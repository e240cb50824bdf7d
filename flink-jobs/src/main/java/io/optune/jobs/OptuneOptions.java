package io.optune.jobs;

import io.optune.engine.loop.SelectionStrategy;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PairWeighting;
import io.optune.operators.select.ScoreBasis;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Every option of the OPTune job, in one place. Keys share the {@code optune.} prefix; Flink's own
 * keys (state backend, checkpoints, restart strategy) stay in Flink's configuration, not here.
 */
public final class OptuneOptions {
    /** {@code optune.select.rho} read: empty for {@code auto}, else the fixed share (validated). */
    public static java.util.OptionalDouble fixedRho(org.apache.flink.configuration.ReadableConfig conf) {
        String v = conf.get(SELECT_RHO).trim();
        if (v.equalsIgnoreCase("auto")) {
            return java.util.OptionalDouble.empty();
        }
        double rho;
        try {
            rho = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("optune.select.rho must be a number in [0, 1] or auto, got '" + v + "'");
        }
        if (!(rho >= 0 && rho <= 1)) {
            throw new IllegalArgumentException("optune.select.rho must be in [0, 1], got " + v);
        }
        return java.util.OptionalDouble.of(rho);
    }

    private OptuneOptions() {}

    /** Where prompts come from. */
    public enum SourceType {
        /** The built-in task feed (a recurring prompt pool with new arrivals). */
        BUILTIN,
        /** JSON prompt records, one per line, from a file or directory. */
        JSONL,
        /** JSON prompt records from a Kafka topic (optune.kafka.*). */
        KAFKA
    }

    /** Which reward model scores responses (built by {@link RewardModels}, the one place that knows them). */
    public enum RewardType {
        /** The built-in task's verifier (graded gold reward). */
        GOLD,
        /** The in-process Bradley-Terry model ({@code NeuralRewardModel}) from a trained snapshot (optune.reward.neural.snapshot). */
        NEURAL,
        /** A Hugging Face *ForSequenceClassification checkpoint scored inside the job (optune.reward.checkpoint). */
        CHECKPOINT,
        /** A remote reward service over HTTP (optune.reward.http.*). */
        HTTP;

        /** Learned rewards carry per-prompt offsets (see optune.select.score-basis). */
        public boolean learned() {
            return this != GOLD;
        }
    }

    // ---- source ----
    public static final ConfigOption<SourceType> SOURCE_TYPE = ConfigOptions.key("optune.source.type")
            .enumType(SourceType.class).defaultValue(SourceType.BUILTIN)
            .withDescription("Prompt source: BUILTIN (built-in task feed) or JSONL (optune.source.path).");
    public static final ConfigOption<String> SOURCE_PATH = ConfigOptions.key("optune.source.path")
            .stringType().noDefaultValue()
            .withDescription("File or directory of JSON prompt records, one per line (JSONL source).");
    public static final ConfigOption<Duration> SOURCE_WATCH_INTERVAL = ConfigOptions.key("optune.source.watch-interval")
            .durationType().defaultValue(Duration.ZERO)
            .withDescription("JSONL source: when non-zero, keep watching the path for new files at this interval (unbounded).");
    public static final ConfigOption<Integer> BUILTIN_POOL_SIZE = ConfigOptions.key("optune.source.builtin.pool-size")
            .intType().defaultValue(512)
            .withDescription("Built-in feed: prompts in the recurring pool.");
    public static final ConfigOption<Double> BUILTIN_NEW_RATE = ConfigOptions.key("optune.source.builtin.new-rate")
            .doubleType().defaultValue(0.05)
            .withDescription("Built-in feed: probability that a record is a new prompt rather than a recurring one.");
    public static final ConfigOption<Integer> BUILTIN_MAX_OPERAND = ConfigOptions.key("optune.source.builtin.max-operand-length")
            .intType().defaultValue(io.optune.engine.task.BuiltinTask.DEFAULT_MAX_OPERAND)
            .withDescription("Built-in task: longest string operand (letters; operands are 2 to this long, so answers are "
                    + "as long). Longer operands mean longer responses, more decoding per prompt: the OPTune paper's regime, "
                    + "where generation dominates a round. Applies to the feed, the SFT warm start and the held-out set; "
                    + "max-new-tokens must exceed it.");
    public static final ConfigOption<Double> BUILTIN_RATE = ConfigOptions.key("optune.source.builtin.prompts-per-second")
            .doubleType().defaultValue(250.0)
            .withDescription("Built-in feed: records per second (the live traffic rate).");
    public static final ConfigOption<Long> BUILTIN_COUNT = ConfigOptions.key("optune.source.builtin.count")
            .longType().noDefaultValue()
            .withDescription("Built-in feed: total records before the source ends (unset: unbounded).");

    // ---- kafka ----
    /** Prefix of pass-through Kafka client properties (security.protocol, sasl.*, ssl.*, ...). */
    public static final String KAFKA_PROPERTIES_PREFIX = "optune.kafka.properties.";

    public static final ConfigOption<String> KAFKA_BOOTSTRAP = ConfigOptions.key("optune.kafka.bootstrap-servers")
            .stringType().noDefaultValue()
            .withDescription("Kafka bootstrap servers for the prompt source and the policy-update topic. Extra client "
                    + "properties go under optune.kafka.properties.<name> (never logged).");
    public static final ConfigOption<String> KAFKA_PROMPTS_TOPIC = ConfigOptions.key("optune.kafka.prompts.topic")
            .stringType().noDefaultValue()
            .withDescription("KAFKA source: topic of JSON prompt records (or use optune.kafka.prompts.topic-pattern).");
    public static final ConfigOption<String> KAFKA_PROMPTS_PATTERN = ConfigOptions.key("optune.kafka.prompts.topic-pattern")
            .stringType().noDefaultValue()
            .withDescription("KAFKA source: regular expression of prompt topics.");
    public static final ConfigOption<String> KAFKA_GROUP = ConfigOptions.key("optune.kafka.prompts.group-id")
            .stringType().defaultValue("optune")
            .withDescription("KAFKA source: consumer group (offsets are checkpointed and also committed to it).");
    public static final ConfigOption<io.optune.connectors.kafka.KafkaPromptSource.StartingOffsets> KAFKA_OFFSETS =
            ConfigOptions.key("optune.kafka.prompts.starting-offsets")
                    .enumType(io.optune.connectors.kafka.KafkaPromptSource.StartingOffsets.class)
                    .defaultValue(io.optune.connectors.kafka.KafkaPromptSource.StartingOffsets.COMMITTED_OR_EARLIEST)
                    .withDescription("KAFKA source: EARLIEST, LATEST or COMMITTED_OR_EARLIEST (for a new group).");
    public static final ConfigOption<String> KAFKA_UPDATES_TOPIC = ConfigOptions.key("optune.kafka.updates.topic")
            .stringType().noDefaultValue()
            .withDescription("When set, every published PolicyUpdate is also written to this topic as JSON (key: version).");
    public static final ConfigOption<Boolean> KAFKA_UPDATES_FEEDBACK = ConfigOptions.key("optune.kafka.updates.feedback")
            .booleanType().defaultValue(false)
            .withDescription("When true (and optune.kafka.updates.topic is set), the generators follow new versions by reading "
                    + "the updates topic back (read committed) instead of the weight log's announcements.");

    /** Delivery of the policy-update topic (Flink's DeliveryGuarantee prints itself in another spelling). */
    public enum UpdateDelivery {
        EXACTLY_ONCE(org.apache.flink.connector.base.DeliveryGuarantee.EXACTLY_ONCE),
        AT_LEAST_ONCE(org.apache.flink.connector.base.DeliveryGuarantee.AT_LEAST_ONCE),
        NONE(org.apache.flink.connector.base.DeliveryGuarantee.NONE);

        private final org.apache.flink.connector.base.DeliveryGuarantee guarantee;

        UpdateDelivery(org.apache.flink.connector.base.DeliveryGuarantee guarantee) {
            this.guarantee = guarantee;
        }

        public org.apache.flink.connector.base.DeliveryGuarantee guarantee() {
            return guarantee;
        }
    }

    public static final ConfigOption<UpdateDelivery> KAFKA_UPDATES_GUARANTEE =
            ConfigOptions.key("optune.kafka.updates.delivery-guarantee")
                    .enumType(UpdateDelivery.class)
                    .defaultValue(UpdateDelivery.EXACTLY_ONCE)
                    .withDescription("EXACTLY_ONCE (transactions committed with checkpoints; read with read_committed), "
                            + "AT_LEAST_ONCE or NONE.");

    // ---- model ----
    public static final ConfigOption<String> POLICY_CHECKPOINT = ConfigOptions.key("optune.policy.checkpoint")
            .stringType().noDefaultValue()
            .withDescription("Hugging Face checkpoint directory on any Flink file system (file://, s3://, hdfs://): "
                    + "config.json, model.safetensors (or a sharded index), tokenizer.json and its config files. "
                    + "When the weight log is empty it becomes policy version 0 (and the frozen reference unless "
                    + "optune.reference.checkpoint is set). Unset: the built-in task's SFT policy.");
    public static final ConfigOption<String> REFERENCE_CHECKPOINT = ConfigOptions.key("optune.reference.checkpoint")
            .stringType().noDefaultValue()
            .withDescription("Hugging Face checkpoint directory of the frozen DPO reference (same shape as the policy), "
                    + "loaded when the trainer starts without checkpointed state. Unset: the policy it starts from.");
    public static final ConfigOption<Integer> MAX_PROMPT_TOKENS = ConfigOptions.key("optune.model.max-prompt-tokens")
            .intType().defaultValue(24)
            .withDescription("Longest accepted prompt in tokens (BOS included); longer prompts are dead-lettered at ingest.");

    // ---- select ----
    public static final ConfigOption<SelectionStrategy> SELECT_STRATEGY = ConfigOptions.key("optune.select.strategy")
            .enumType(SelectionStrategy.class).defaultValue(SelectionStrategy.OPTUNE)
            .withDescription("OPTUNE: regenerate known prompts whose stored score ranks in the lowest rho; ALL: full online DPO; RANDOM: a random rho fraction (ablation).");
    public static final ConfigOption<String> SELECT_RHO = ConfigOptions.key("optune.select.rho")
            .stringType().defaultValue("0.5")
            .withDescription("Share rho in [0, 1] of prompt arrivals that are regenerated, for OPTUNE and RANDOM (a controller holds the "
                    + "realised share at rho), or 'auto': the largest share the generators sustain without backing up "
                    + "(optune.select.auto.*), within the generation budget if one is set.");
    public static final ConfigOption<ScoreBasis> SELECT_SCORE_BASIS = ConfigOptions.key("optune.select.score-basis")
            .enumType(ScoreBasis.class).noDefaultValue()
            .withDescription("RAW: rank the stored chosen reward; PROMPT_NORMALISED: rank it standardised by the prompt's own "
                    + "reward history. Default: PROMPT_NORMALISED for learned rewards (optune.reward.type NEURAL, CHECKPOINT, "
                    + "HTTP), RAW for GOLD. A learned reward model is trained on pairwise preferences (Bradley-Terry), which "
                    + "fix its scores only up to a shift per prompt: a prompt whose answers all score low is not a prompt the "
                    + "policy answers badly, so ranking raw rewards would regenerate the same low-offset prompts again and "
                    + "again. The gold verifier's scores are absolute (0 is wrong, 1 is right on every prompt), so raw "
                    + "rewards rank its prompts well.");
    public static final ConfigOption<Integer> SELECT_WINDOW = ConfigOptions.key("optune.select.window-size")
            .intType().defaultValue(1024)
            .withDescription("Prompts per select subtask whose latest score a prompt is ranked against (each prompt counted once; "
                    + "the least recently seen are dropped).");
    public static final ConfigOption<Integer> SELECT_MAX_REUSES = ConfigOptions.key("optune.select.max-reuses")
            .intType().defaultValue(8)
            .withDescription("A stored pair is trained again at most this many times; the prompt's next arrival is regenerated "
                    + "(0: no cap).");
    public static final ConfigOption<Integer> SELECT_MAX_STALENESS = ConfigOptions.key("optune.select.max-staleness")
            .intType().defaultValue(16)
            .withDescription("A stored pair more than this many policy versions older than the newest version the select step has "
                    + "seen is not reused; the prompt is regenerated (0: no cap).");
    public static final ConfigOption<Double> SELECT_AUTO_MIN = ConfigOptions.key("optune.select.auto.min-rho")
            .doubleType().defaultValue(0.1)
            .withDescription("rho auto: the lowest share it may choose.");
    public static final ConfigOption<Double> SELECT_AUTO_MAX = ConfigOptions.key("optune.select.auto.max-rho")
            .doubleType().defaultValue(1.0)
            .withDescription("rho auto: the highest share it may choose.");
    public static final ConfigOption<Integer> SELECT_AUTO_TARGET_IN_FLIGHT = ConfigOptions.key("optune.select.auto.target-in-flight")
            .intType().defaultValue(64)
            .withDescription("rho auto: regenerations in flight per select subtask at which the generators count as fully busy; "
                    + "more lowers rho, fewer raises it.");
    public static final ConfigOption<Double> SELECT_AUTO_BUDGET = ConfigOptions.key("optune.select.auto.generation-budget")
            .doubleType().defaultValue(0.0)
            .withDescription("rho auto: at most this many prompts regenerated per second, whole job (0: no budget).");
    public static final ConfigOption<Duration> SELECT_IN_FLIGHT_TIMEOUT = ConfigOptions.key("optune.select.in-flight-timeout")
            .durationType().defaultValue(Duration.ofSeconds(30))
            .withDescription("An arrival of a prompt whose regeneration is in flight is skipped (ledger reason regeneration-in-flight); "
                    + "after this long without the memory update (e.g. the generation was dead-lettered) it may be regenerated again.");
    public static final ConfigOption<Duration> SELECT_TTL = ConfigOptions.key("optune.select.state-ttl")
            .durationType().defaultValue(Duration.ofDays(7))
            .withDescription("Response memory of a prompt not seen for this long expires (0 disables expiry).");

    // ---- generate ----
    public static final ConfigOption<Integer> SAMPLES = ConfigOptions.key("optune.generate.samples-per-prompt")
            .intType().defaultValue(4)
            .withDescription("K responses sampled per regenerated prompt (>= 2).");
    public static final ConfigOption<Double> TEMPERATURE = ConfigOptions.key("optune.generate.temperature")
            .doubleType().defaultValue(1.0)
            .withDescription("Sampling temperature (0 = greedy).");
    public static final ConfigOption<Double> TOP_P = ConfigOptions.key("optune.generate.top-p")
            .doubleType().defaultValue(1.0)
            .withDescription("Nucleus sampling mass in (0, 1].");
    public static final ConfigOption<Integer> MAX_NEW_TOKENS = ConfigOptions.key("optune.generate.max-new-tokens")
            .intType().defaultValue(12)
            .withDescription("Response length limit in tokens (EOS included).");
    public static final ConfigOption<Integer> GENERATE_BATCH = ConfigOptions.key("optune.generate.max-batch")
            .intType().defaultValue(32)
            .withDescription("Prompts per generation micro-batch.");
    public static final ConfigOption<Duration> GENERATE_DELAY = ConfigOptions.key("optune.generate.max-delay")
            .durationType().defaultValue(Duration.ofMillis(100))
            .withDescription("Longest a prompt waits for its micro-batch to fill.");
    public static final ConfigOption<Integer> GENERATE_PARALLELISM = ConfigOptions.key("optune.generate.parallelism")
            .intType().defaultValue(1)
            .withDescription("Generator subtasks (each holds a copy of the policy).");

    // ---- score ----
    public static final ConfigOption<RewardType> REWARD_TYPE = ConfigOptions.key("optune.reward.type")
            .enumType(RewardType.class).defaultValue(RewardType.GOLD)
            .withDeprecatedKeys("optune.score.reward-model")
            .withDescription("Reward model that scores responses: GOLD (the built-in task's verifier), NEURAL (a trained "
                    + "Bradley-Terry model, optune.reward.neural.snapshot), CHECKPOINT (a Hugging Face "
                    + "*ForSequenceClassification reward model in the job, optune.reward.checkpoint), HTTP (a remote "
                    + "reward service, optune.reward.http.*). The old key optune.score.reward-model is still read "
                    + "(deprecated).");
    public static final ConfigOption<String> REWARD_CHECKPOINT = ConfigOptions.key("optune.reward.checkpoint")
            .stringType().noDefaultValue()
            .withDescription("CHECKPOINT reward: the Hugging Face reward checkpoint directory on any Flink file system "
                    + "(config.json naming a *ForSequenceClassification with num_labels 1, model.safetensors or its "
                    + "index); its tokenizer files are read from there unless optune.reward.tokenizer names them.");
    public static final ConfigOption<String> REWARD_TOKENIZER = ConfigOptions.key("optune.reward.tokenizer")
            .stringType().noDefaultValue()
            .withDescription("CHECKPOINT reward: a local directory with the reward model's tokenizer.json (and "
                    + "tokenizer_config.json with its chat template), when the checkpoint directory has none.");
    public static final ConfigOption<Integer> REWARD_BATCH_SIZE = ConfigOptions.key("optune.reward.batch-size")
            .intType().defaultValue(16)
            .withDescription("CHECKPOINT and NEURAL rewards: responses scored per forward pass, gathered from several "
                    + "generations (async I/O: the model runs on its own thread, never on the operator's).");
    public static final ConfigOption<Duration> REWARD_BATCH_MAX_DELAY = ConfigOptions.key("optune.reward.batch-max-delay")
            .durationType().defaultValue(Duration.ofMillis(20))
            .withDescription("CHECKPOINT and NEURAL rewards: how long a partial forward-pass batch waits for more "
                    + "generations before it is scored.");
    public static final ConfigOption<String> REWARD_NEURAL_SNAPSHOT = ConfigOptions.key("optune.reward.neural.snapshot")
            .stringType().noDefaultValue()
            .withDescription("NEURAL reward: a local checkpoint directory holding a transformer with a scalar head "
                    + "and its tokenizer files, trained offline with NeuralRewardModel's Bradley-Terry trainer and written with "
                    + "PolicyDirectory.write.");
    public static final ConfigOption<Duration> SCORE_TIMEOUT = ConfigOptions.key("optune.score.timeout")
            .durationType().defaultValue(Duration.ofSeconds(10))
            .withDescription("Timeout of one reward-model call (one forward pass of an in-job model).");
    public static final ConfigOption<Integer> SCORE_ATTEMPTS = ConfigOptions.key("optune.score.max-attempts")
            .intType().defaultValue(3)
            .withDescription("Attempts per generation before it is dead-lettered.");

    // ---- remote reward service (optune.score.reward-model HTTP; docs/REWARD-HTTP.md) ----
    public static final ConfigOption<String> REWARD_HTTP_URL = ConfigOptions.key("optune.reward.http.url")
            .stringType().noDefaultValue()
            .withDescription("HTTP reward: the service's scoring URL (http:// or https://), e.g. http://rm:8080/score or TEI's http://tei:80/predict.");
    public static final ConfigOption<io.optune.operators.score.HttpRewardConfig.Protocol> REWARD_HTTP_PROTOCOL =
            ConfigOptions.key("optune.reward.http.protocol")
            .enumType(io.optune.operators.score.HttpRewardConfig.Protocol.class).defaultValue(io.optune.operators.score.HttpRewardConfig.Protocol.OPTUNE)
            .withDescription("HTTP reward wire format: OPTUNE (our JSON, docs/REWARD-HTTP.md) or TEI (text-embeddings-inference /predict).");
    public static final ConfigOption<String> REWARD_HTTP_SCORES_PATH = ConfigOptions.key("optune.reward.http.scores-path")
            .stringType().noDefaultValue()
            .withDescription("HTTP reward: JSON pointer to the scores array in an answer (default /scores for OPTUNE, the whole body for TEI).");
    public static final ConfigOption<String> REWARD_HTTP_TEI_LABEL = ConfigOptions.key("optune.reward.http.tei-label")
            .stringType().noDefaultValue()
            .withDescription("HTTP reward, TEI: the label whose score is the reward (unset: the model must return exactly one label).");
    public static final ConfigOption<Boolean> REWARD_HTTP_TEI_RAW_SCORES = ConfigOptions.key("optune.reward.http.tei-raw-scores")
            .booleanType().defaultValue(true)
            .withDescription("HTTP reward, TEI: ask for raw logits (raw_scores) rather than sigmoid/softmax outputs.");
    public static final ConfigOption<Integer> REWARD_HTTP_BATCH_MAX_RESPONSES = ConfigOptions.key("optune.reward.http.batch-max-responses")
            .intType().defaultValue(64)
            .withDescription("HTTP reward: most responses in one request (a generation with more goes alone).");
    public static final ConfigOption<Duration> REWARD_HTTP_BATCH_MAX_DELAY = ConfigOptions.key("optune.reward.http.batch-max-delay")
            .durationType().defaultValue(Duration.ofMillis(20))
            .withDescription("HTTP reward: longest a generation waits for others to share its request.");
    public static final ConfigOption<Integer> REWARD_HTTP_MAX_IN_FLIGHT = ConfigOptions.key("optune.reward.http.max-in-flight")
            .intType().defaultValue(8)
            .withDescription("HTTP reward: most requests outstanding per score subtask (the service's concurrency share).");
    public static final ConfigOption<Integer> REWARD_HTTP_CAPACITY = ConfigOptions.key("optune.reward.http.capacity")
            .intType().defaultValue(256)
            .withDescription("HTTP reward: generations the async operator holds in flight per subtask (checkpointed, re-sent after a restore); "
                    + "back-pressure beyond it. At least max-in-flight x batch-max-responses / samples-per-prompt keeps the service busy.");
    public static final ConfigOption<Duration> REWARD_HTTP_TIMEOUT = ConfigOptions.key("optune.reward.http.timeout")
            .durationType().defaultValue(Duration.ofSeconds(10))
            .withDescription("HTTP reward: timeout of one request (connect and answer).");
    public static final ConfigOption<Integer> REWARD_HTTP_MAX_ATTEMPTS = ConfigOptions.key("optune.reward.http.max-attempts")
            .intType().defaultValue(3)
            .withDescription("HTTP reward: attempts per generation (the first included) on retriable failures: 5xx, 429, timeouts, refused or "
                    + "broken connections, malformed answers. Other 4xx and wrong-length answers are not retried.");
    public static final ConfigOption<Duration> REWARD_HTTP_BACKOFF = ConfigOptions.key("optune.reward.http.backoff")
            .durationType().defaultValue(Duration.ofMillis(200))
            .withDescription("HTTP reward: first retry delay, doubled per attempt (Flink's exponential backoff).");
    public static final ConfigOption<Duration> REWARD_HTTP_MAX_BACKOFF = ConfigOptions.key("optune.reward.http.max-backoff")
            .durationType().defaultValue(Duration.ofSeconds(5))
            .withDescription("HTTP reward: longest retry delay.");
    public static final ConfigOption<String> REWARD_HTTP_TOKEN_ENV = ConfigOptions.key("optune.reward.http.token-env")
            .stringType().noDefaultValue()
            .withDescription("HTTP reward: name of the environment variable holding the bearer token (the token itself never goes into options or logs).");
    public static final ConfigOption<String> REWARD_HTTP_TOKEN_FILE = ConfigOptions.key("optune.reward.http.token-file")
            .stringType().noDefaultValue()
            .withDescription("HTTP reward: file holding the bearer token, e.g. a Kubernetes Secret mounted into the TaskManagers.");
    public static final ConfigOption<String> REWARD_HTTP_TRUST_STORE = ConfigOptions.key("optune.reward.http.trust-store")
            .stringType().noDefaultValue()
            .withDescription("HTTP reward: PKCS12 (or .jks) trust store for the service's certificate (unset: the JVM's default trust).");
    public static final ConfigOption<String> REWARD_HTTP_TRUST_STORE_PASSWORD = ConfigOptions.key("optune.reward.http.trust-store-password")
            .stringType().noDefaultValue()
            .withDescription("HTTP reward: password of the trust store (integrity check only; a trust store holds no secrets).");
    public static final ConfigOption<Boolean> REWARD_HTTP_GZIP = ConfigOptions.key("optune.reward.http.gzip")
            .booleanType().defaultValue(false)
            .withDescription("HTTP reward: gzip request bodies (the service must accept Content-Encoding: gzip). Gzipped answers are always accepted.");

    // ---- pairs ----
    public static final ConfigOption<Double> MIN_GAP = ConfigOptions.key("optune.pairs.min-gap")
            .doubleType().defaultValue(0.01)
            .withDescription("Pairs with a smaller reward gap are not trained on.");
    public static final ConfigOption<PairWeighting> WEIGHTING = ConfigOptions.key("optune.pairs.weighting")
            .enumType(PairWeighting.class).defaultValue(PairWeighting.EXP)
            .withDescription("Pair weight as a function of the reward gap g: NONE (1), EXP (exp(beta2 g)), LINEAR (1 + beta2 g); batches are rescaled to mean 1.");
    public static final ConfigOption<Double> BETA2 = ConfigOptions.key("optune.pairs.beta2")
            .doubleType().defaultValue(2.0)
            .withDescription("Scale beta2 of the gap weighting.");

    // ---- batch ----
    public static final ConfigOption<Integer> BATCH_SIZE = ConfigOptions.key("optune.batch.size")
            .intType().defaultValue(16)
            .withDescription("Pairs per training step.");
    public static final ConfigOption<Duration> BATCH_DELAY = ConfigOptions.key("optune.batch.max-delay")
            .durationType().defaultValue(Duration.ofSeconds(2))
            .withDescription("A partial batch is trained once its oldest pair waited this long.");

    // ---- train ----
    public static final ConfigOption<LossType> LOSS = ConfigOptions.key("optune.train.loss")
            .enumType(LossType.class).defaultValue(LossType.SIGMOID)
            .withDescription("SIGMOID (DPO) or IPO.");
    public static final ConfigOption<Double> BETA = ConfigOptions.key("optune.train.beta")
            .doubleType().defaultValue(0.1)
            .withDescription("DPO beta (IPO: target margin 1/(2 beta)).");
    public static final ConfigOption<Double> NLL_WEIGHT = ConfigOptions.key("optune.train.nll-weight")
            .doubleType().defaultValue(1.0)
            .withDescription("Weight alpha of the per-token NLL of the chosen response added to each pair's loss (0 = pure DPO).");
    public static final ConfigOption<Double> LEARNING_RATE = ConfigOptions.key("optune.train.learning-rate")
            .doubleType().defaultValue(1e-4)
            .withDescription("AdamW peak learning rate.");
    public static final ConfigOption<Integer> WARMUP = ConfigOptions.key("optune.train.warmup-steps")
            .intType().defaultValue(10)
            .withDescription("Linear learning-rate warm-up steps.");
    public static final ConfigOption<Double> MAX_GRAD_NORM = ConfigOptions.key("optune.train.max-grad-norm")
            .doubleType().defaultValue(1.0)
            .withDescription("Global gradient-norm clip (0 disables).");
    public static final ConfigOption<Integer> PUBLISH_EVERY = ConfigOptions.key("optune.train.publish-every")
            .intType().defaultValue(20)
            .withDescription("Training steps between published policy versions.");
    public static final ConfigOption<Integer> REFERENCE_REFRESH_EVERY = ConfigOptions.key("optune.train.reference-refresh-every")
            .intType().defaultValue(0)
            .withDescription("Every this many training steps the frozen DPO reference moves to the policy (0: never; the reference "
                    + "stays the starting policy).");
    public static final ConfigOption<Double> REFERENCE_MIXUP = ConfigOptions.key("optune.train.reference-mixup")
            .doubleType().defaultValue(1.0)
            .withDescription("Reference refresh weight alpha: ref = alpha * policy + (1 - alpha) * ref (1: copy the policy).");
    public static final ConfigOption<Boolean> ASYNC_SNAPSHOT = ConfigOptions.key("optune.train.async-snapshot")
            .booleanType().defaultValue(true)
            .withDescription("A checkpoint copies the trainer (policy, reference, AdamW moments) on its device at the barrier "
                    + "and Flink's checkpoint thread hashes and writes the copy while training goes on: the barrier waits for "
                    + "a device copy, not for storage. Costs a transient second copy (16 bytes per parameter) on the trainer's "
                    + "device. false: written in the synchronous phase (no copy; the checkpoint waits for the write).");
    public static final ConfigOption<Integer> HELD_OUT_SIZE = ConfigOptions.key("optune.train.held-out-size")
            .intType().defaultValue(256)
            .withDescription("Built-in task only: held-out prompts on which published versions are evaluated (greedy); 0 "
                    + "disables. The evaluation runs beside the job, reading versions from the weight log (the embedded run "
                    + "evaluates the newest version whenever it is free, and the final one), never on the trainer's thread; "
                    + "results in held-out.csv of the run directory.");

    // ---- weights and feedback ----
    public static final ConfigOption<String> WEIGHTS_PATH = ConfigOptions.key("optune.weights.path")
            .stringType().noDefaultValue()
            .withDescription("Weight log base path on a Flink file system (file://, s3://, hdfs://). Embedded default: <run-dir>/weights.");
    /** Element type of published {@code model.safetensors} files. */
    public enum WeightsDtype {
        FLOAT32, FLOAT16, BFLOAT16;

        public io.optune.engine.checkpoint.SafeTensorsStream.Dtype stored() {
            switch (this) {
                case FLOAT16:
                    return io.optune.engine.checkpoint.SafeTensorsStream.Dtype.F16;
                case BFLOAT16:
                    return io.optune.engine.checkpoint.SafeTensorsStream.Dtype.BF16;
                default:
                    return io.optune.engine.checkpoint.SafeTensorsStream.Dtype.F32;
            }
        }
    }

    public static final ConfigOption<WeightsDtype> WEIGHTS_DTYPE = ConfigOptions.key("optune.weights.dtype")
            .enumType(WeightsDtype.class).defaultValue(WeightsDtype.FLOAT32)
            .withDescription("dtype of each published version's model.safetensors: FLOAT32 (exact), FLOAT16 or BFLOAT16 "
                    + "(half the size; generators and the trainer widen them to float32 on load, so training continues "
                    + "in float32 and only readers of the published files see the rounding).");
    public static final ConfigOption<Integer> WEIGHTS_RETAIN = ConfigOptions.key("optune.weights.retain-versions")
            .intType().defaultValue(20)
            .withDescription("Keep the newest N policy versions in the weight log (files, signature, announcement); older "
                    + "ones are pruned after each publication and keep only a line in the log's history/ (their metrics). "
                    + "0 keeps every version: the log then grows by one snapshot per publication, without bound.");
    public static final ConfigOption<Integer> WEIGHTS_RETAIN_EVERY = ConfigOptions.key("optune.weights.retain-every")
            .intType().defaultValue(0)
            .withDescription("Also keep every version whose number is a multiple of N, whole, as long-lived rollback "
                    + "points (0: none). Storage then grows by one snapshot per N publications.");
    public static final ConfigOption<io.optune.operators.train.Publication> WEIGHTS_PUBLICATION =
            ConfigOptions.key("optune.weights.publication")
            .enumType(io.optune.operators.train.Publication.class).defaultValue(io.optune.operators.train.Publication.IMMEDIATE)
            .withDescription("When a trained version becomes visible to generators, serving and the update topic. "
                    + "IMMEDIATE: at once (lowest lag; after a failure the trainer resumes from its checkpoint, so versions "
                    + "announced since are trained again under new numbers). ON_CHECKPOINT: when the checkpoint holding the "
                    + "trainer past that version completes, so no consumer ever sees a version a recovery redoes (lag grows "
                    + "by up to a checkpoint interval plus the checkpoint's duration).");
    public static final ConfigOption<Boolean> SIGNING_ENABLED = ConfigOptions.key("optune.weights.signing.enabled")
            .booleanType().defaultValue(true)
            .withDescription("Sign every published policy version (Ed25519) and refuse to load versions without a valid "
                    + "signature of the configured key. Turn off only explicitly (see docs/SECURITY.md). Embedded run: "
                    + "without configured keys a throw-away pair is made beside the run directories (runs/keys) and reused by later runs.");
    public static final ConfigOption<String> SIGNING_PRIVATE_KEY = ConfigOptions.key("optune.weights.signing.private-key")
            .stringType().noDefaultValue()
            .withDescription("Path of the PKCS#8 PEM Ed25519 private key that signs versions, readable where the trainer "
                    + "runs (e.g. a mounted Kubernetes Secret). Only the path travels with the job; the key is never logged.");
    public static final ConfigOption<String> SIGNING_PUBLIC_KEY = ConfigOptions.key("optune.weights.signing.public-key")
            .stringType().noDefaultValue()
            .withDescription("Path of the X.509 PEM Ed25519 public key that every reader of the weight log checks versions against.");
    public static final ConfigOption<Duration> WEIGHTS_POLL = ConfigOptions.key("optune.weights.poll-interval")
            .durationType().defaultValue(Duration.ofMillis(200))
            .withDescription("How often the policy-update source looks for new versions.");
    public static final ConfigOption<String> FEEDBACK_PATH = ConfigOptions.key("optune.feedback.path")
            .stringType().noDefaultValue()
            .withDescription("Directory of the memory feedback edge (pair -> select), owned by the job: each committed file is "
                    + "deleted once the checkpoint after its reading completes, so give it a directory that holds nothing else. "
                    + "Embedded default: <run-dir>/feedback.");
    public static final ConfigOption<Duration> FEEDBACK_POLL = ConfigOptions.key("optune.feedback.poll-interval")
            .durationType().defaultValue(Duration.ofMillis(500))
            .withDescription("How often the feedback source looks for committed files.");

    public static final ConfigOption<String> PAIRS_AUDIT_PATH = ConfigOptions.key("optune.pairs.audit-path")
            .stringType().noDefaultValue()
            .withDescription("When set, every training pair (fresh and reused) is also written here as JSON lines, for audits.");

    public static final ConfigOption<io.optune.operators.records.UserText> AUDIT_USER_TEXT = ConfigOptions.key("optune.audit.user-text")
            .enumType(io.optune.operators.records.UserText.class).defaultValue(io.optune.operators.records.UserText.FULL)
            .withDescription("How dead letters and the pair audit store user text (prompts, responses, offending records): "
                    + "FULL as it came, or SHA256 (only each text's SHA-256, so records can still be matched; dead-letter "
                    + "details, which may quote the input, are withheld and only the reason code is kept).");

    public static final ConfigOption<Duration> AUDIT_RETENTION = ConfigOptions.key("optune.audit.retention")
            .durationType().noDefaultValue()
            .withDescription("When set, committed dead-letter and pair-audit files (they may hold user text) older than this "
                    + "are deleted, checked every optune.audit.retention-check-interval. Unset: kept forever.");
    public static final ConfigOption<Duration> AUDIT_RETENTION_CHECK = ConfigOptions.key("optune.audit.retention-check-interval")
            .durationType().defaultValue(Duration.ofMinutes(10))
            .withDescription("How often the retention of optune.audit.retention and optune.ledger.retention is applied.");

    public static final ConfigOption<String> LEDGER_PATH = ConfigOptions.key("optune.ledger.path")
            .stringType().noDefaultValue()
            .withDescription("When set, the prompt ledger is written here as JSON lines (exactly once): one outcome per prompt "
                    + "arrival (TRAINED, SKIPPED or DEAD_LETTERED, with the reason), keyed by the record's request_id. "
                    + "Embedded default: <run-dir>/ledger.");
    public static final ConfigOption<Duration> LEDGER_RETENTION = ConfigOptions.key("optune.ledger.retention")
            .durationType().noDefaultValue()
            .withDescription("When set, committed prompt-ledger files older than this are deleted, checked every "
                    + "optune.audit.retention-check-interval (the ledger is an output for the user: read or ship it within "
                    + "this time). Unset: kept forever.");

    public static final ConfigOption<String> DEAD_LETTER_PATH = ConfigOptions.key("optune.dead-letters.path")
            .stringType().noDefaultValue()
            .withDescription("Directory where dead-letter records are written as JSON lines. Embedded default: <run-dir>/dead-letters.");

    public static final ConfigOption<Long> SEED = ConfigOptions.key("optune.seed")
            .longType().defaultValue(1L)
            .withDescription("Seed of sampling, selection, the built-in feed and the SFT warm start.");

    // ---- embedded run ----
    public static final ConfigOption<String> RUNS_DIR = ConfigOptions.key("optune.embedded.runs-dir")
            .stringType().defaultValue("runs")
            .withDescription("Embedded run: where each new run gets its own directory <runs-dir>/<yyyyMMdd-HHmmss>; "
                    + "<runs-dir>/latest links to the newest. Nothing in an earlier run's directory is ever deleted.");
    public static final ConfigOption<String> RUN_DIR = ConfigOptions.key("optune.embedded.run-dir")
            .stringType().noDefaultValue()
            .withDescription("Embedded run: directory for the weight log, feedback, checkpoints, logs and the summary. "
                    + "Default: a new <runs-dir>/<timestamp>. A directory that already holds a run is refused unless "
                    + "the run resumes it (optune.embedded.resume).");
    public static final ConfigOption<String> RESUME = ConfigOptions.key("optune.embedded.resume")
            .stringType().noDefaultValue()
            .withDescription("Embedded run: continue the run in this directory (or 'latest' for <runs-dir>/latest) from "
                    + "its newest complete retained checkpoint or savepoint. '--resume [RUN_DIR]' is short for it.");
    public static final ConfigOption<Integer> DASHBOARD_PORT = ConfigOptions.key("optune.embedded.dashboard-port")
            .intType().defaultValue(8081)
            .withDescription("Embedded run: port of Flink's web dashboard on 127.0.0.1 (a free port is used, with a "
                    + "message, when it is taken; 0 picks any free port).");
    public static final ConfigOption<Duration> DURATION = ConfigOptions.key("optune.embedded.duration")
            .durationType().defaultValue(Duration.ofMinutes(5))
            .withDescription("Embedded run: how long the job runs before it is stopped with a savepoint. A bounded "
                    + "built-in feed (optune.source.builtin.count) stops it earlier, once the prompt ledger accounts for "
                    + "every arrival.");
    /** How the embedded run ends. */
    public enum StopMode {
        /** Stop with a savepoint (resume with execution.state-recovery.path). */
        SAVEPOINT,
        /** Cancel, keeping the retained checkpoints, as a lost JobManager would leave them. */
        CANCEL
    }

    public static final ConfigOption<StopMode> STOP_MODE = ConfigOptions.key("optune.embedded.stop-mode")
            .enumType(StopMode.class).defaultValue(StopMode.SAVEPOINT)
            .withDescription("Embedded run: SAVEPOINT stops with a savepoint; CANCEL cancels and leaves the retained "
                    + "checkpoints (the summary names the newest) for a new job to resume from.");
    public static final ConfigOption<String> ENGINE_DEVICE = ConfigOptions.key("optune.engine.device")
            .stringType().defaultValue("cpu")
            .withDescription("Where the engine runs the generators, the trainer and an in-job reward checkpoint: cpu, gpu (the first GPU) or gpu:N. "
                    + "A GPU needs DJL's PyTorch natives with CUDA (docs/GPU.md); a GPU the engine does not see fails "
                    + "the operator at open with the count it sees. Several generator subtasks may share one GPU.");
    public static final ConfigOption<String> GENERATE_DEVICE = ConfigOptions.key("optune.engine.generate-device")
            .stringType().noDefaultValue()
            .withDescription("Device of the generators when it differs from optune.engine.device (e.g. gpu:0 here and "
                    + "gpu:1 for the trainer).");
    public static final ConfigOption<String> TRAIN_DEVICE = ConfigOptions.key("optune.engine.train-device")
            .stringType().noDefaultValue()
            .withDescription("Device of the trainer (policy, reference, optimizer moments) when it differs from "
                    + "optune.engine.device.");
    public static final ConfigOption<String> REWARD_DEVICE = ConfigOptions.key("optune.engine.reward-device")
            .stringType().noDefaultValue()
            .withDescription("Device of the in-job reward checkpoint (optune.reward.type CHECKPOINT) when it differs from "
                    + "optune.engine.device.");
    public static final ConfigOption<Boolean> ENGINE_COLOCATE = ConfigOptions.key("optune.engine.colocate")
            .booleanType().defaultValue(false)
            .withDescription("Colocated execution: the generators and the trainer of one TaskManager take turns on a "
                    + "device they share (a sampling micro-batch or a DPO step at a time), the single-GPU setting of the "
                    + "OPTune paper, where a round costs generation plus training and every generation saved is time saved. "
                    + "Off: they run side by side (separate GPUs, or CPU cores), and OPTune saves generator capacity "
                    + "instead of time. Turns are per device and per process: work on different devices never waits.");

    public static final ConfigOption<String> ENGINE_PRECISION = ConfigOptions.key("optune.engine.precision")
            .stringType().defaultValue("float32")
            .withDescription("Number format of the engine's matrix products: float32, or float16 = mixed precision as "
                    + "autocast does it (float16 products and KV cache; float32 master weights, AdamW moments, norms, softmax "
                    + "and log-probs; dynamic loss scaling; generators decode with float16 copies of the weights). For GPUs; "
                    + "on a CPU float16 is slower than float32. bfloat16 is not available: DJL 0.36 cannot hold bfloat16 "
                    + "arrays (a bfloat16 checkpoint is widened to float32 on load). TF32 matmuls: set the environment "
                    + "variable TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 for the TaskManagers (docs/GPU.md).");

    /** {@link #ENGINE_PRECISION} parsed (float32 when unset). */
    public static io.optune.engine.model.Precision precision(org.apache.flink.configuration.ReadableConfig conf) {
        return io.optune.engine.model.Precision.parse(conf.get(ENGINE_PRECISION));
    }

    public static final ConfigOption<Integer> ENGINE_THREADS = ConfigOptions.key("optune.embedded.engine-threads")
            .intType().defaultValue(1)
            .withDescription("Embedded run: PyTorch intra-op threads while the job runs (the SFT warm start keeps DJL's "
                    + "default). The pool is per process and the generator and trainer run at once, so 1 avoids "
                    + "oversubscribing small machines; 0 keeps DJL's default. On a cluster set ai.djl.pytorch.num_threads "
                    + "in env.java.opts.taskmanager instead.");
    public static final ConfigOption<Integer> SFT_STEPS = ConfigOptions.key("optune.embedded.sft-steps")
            .intType().defaultValue(1500)
            .withDescription("Embedded run: steps of the SFT warm start that makes the initial policy.");
    public static final ConfigOption<Duration> PROGRESS_INTERVAL = ConfigOptions.key("optune.embedded.progress-interval")
            .durationType().defaultValue(Duration.ofSeconds(15))
            .withDescription("Embedded run: how often progress is printed.");
    public static final ConfigOption<String> SUMMARY_PATH = ConfigOptions.key("optune.embedded.summary-path")
            .stringType().noDefaultValue()
            .withDescription("Embedded run: where the JSON summary is written. Default: <run-dir>/summary.json.");

    /** All options declared above (for documentation and the completeness test). */
    public static List<ConfigOption<?>> all() {
        List<ConfigOption<?>> out = new ArrayList<>();
        for (Field f : OptuneOptions.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == ConfigOption.class) {
                try {
                    out.add((ConfigOption<?>) f.get(null));
                } catch (IllegalAccessException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        return out;
    }
}
