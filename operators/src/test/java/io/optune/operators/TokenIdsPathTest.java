package io.optune.operators;

import ai.djl.ndarray.NDManager;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.reward.RewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.engine.tokenizer.ChatMessage;
import io.optune.engine.tokenizer.HfTokenizer;
import io.optune.engine.tokenizer.Tokenizer;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PairWeighting;
import io.optune.engine.train.PreferenceExample;
import io.optune.operators.batch.BatchOperator;
import io.optune.operators.generate.GenerateOperator;
import io.optune.operators.pairs.PairFunction;
import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferenceBatch;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.records.ScoredGeneration;
import io.optune.operators.score.ScoreFunction;
import io.optune.operators.train.TrainFunction;
import io.optune.operators.weights.InMemoryWeightLog;
import io.optune.engine.generate.SamplingConfig;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.apache.flink.streaming.util.TwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Token ids end to end, step by step through the operators' harnesses (score -> pair -> batch ->
 * train, and from generate for a chat prompt): the trainer receives exactly the ids that were
 * generated, never a re-tokenisation of their text.
 */
class TokenIdsPathTest {
    private static final DpoConfig DPO = new DpoConfig(LossType.SIGMOID, 0.5f, 0.5f, AdamWConfig.of(1e-2f));
    private static final int MAX_PROMPT_TOKENS = 40;

    /** Queries the stub reward model saw (harness functions run in this JVM). */
    static final List<RewardQuery> SEEN = new CopyOnWriteArrayList<>();

    /** Scores each query by its position (so every generation has a clear best and worst), recording what it saw. */
    static final class ByPosition implements RewardModel {
        @Override
        public double[] score(List<RewardQuery> queries) {
            SEEN.addAll(queries);
            double[] out = new double[queries.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = queries.get(i).response().contains("hello") ? 1.0 : -0.1 * i;
            }
            return out;
        }

        @Override
        public String name() {
            return "by-position";
        }
    }

    private static Path tokenizerDir(String name) throws Exception {
        return Path.of(TokenIdsPathTest.class.getResource("/hf/tokenizers/" + name).toURI());
    }

    /** A tiny GPT-2-shaped policy over {@code tokenizer}, with {@code extraRows} padding rows past its vocabulary. */
    private static InMemoryWeightLog logWith(Tokenizer tokenizer, int extraRows) throws Exception {
        InMemoryWeightLog log = new InMemoryWeightLog();
        try (NDManager m = NDManager.newBaseManager();
                TransformerLM model = TransformerLM.create(ModelConfig.gpt2(tokenizer.vocabSize() + extraRows, 64, 16, 1, 2), m, 3, false)) {
            log.publish(new PolicyUpdate(0, 0, null, null, System.currentTimeMillis(), 0, 0, 0, 0, 0, Double.NaN),
                    dir -> PolicyDirectory.write(model, tokenizer, PolicyDirectory.TokenizerFiles.of(tokenizer),
                            SafeTensorsStream.Dtype.F32, dir));
        }
        return log;
    }

    private static int[] concat(int[]... parts) {
        int n = 0;
        for (int[] p : parts) {
            n += p.length;
        }
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    private static List<ScoredGeneration> score(Generation g) throws Exception {
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new ScoreFunction(ByPosition::new, Duration.ofSeconds(30), 1))) {
            h.processElement(g, 0L);
            return h.extractOutputValues();
        }
    }

    private static List<PreferencePair> pair(ScoredGeneration s) throws Exception {
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new PairFunction(0.01, PairWeighting.NONE, 0))) {
            h.processElement(s, 0L);
            return h.extractOutputValues();
        }
    }

    private static List<PreferenceBatch> batch(PreferencePair p) throws Exception {
        try (var h = new KeyedOneInputStreamOperatorTestHarness<>(new BatchOperator(1, 1000),
                (PreferencePair x) -> BatchOperator.KEY, Types.INT)) {
            h.open();
            h.processElement(new StreamRecord<>(p));
            return h.extractOutputValues();
        }
    }

    /** Trains one step on the batch and returns the published version and the ledger. */
    private static PolicyUpdate train(InMemoryWeightLog log, PreferenceBatch b, List<PromptOutcome> ledger) throws Exception {
        try (var h = new OneInputStreamOperatorTestHarness<>(new io.optune.operators.train.TrainOperator(
                new TrainFunction(log, DPO, 1)))) {
            h.open();
            h.processElement(new StreamRecord<>(b));
            h.getSideOutput(PromptOutcome.LEDGER).forEach(r -> ledger.add(r.getValue()));
            List<PolicyUpdate> out = h.extractOutputValues();
            assertThat(out).hasSize(1);
            return out.get(0);
        }
    }

    /** The parameters' checksum after one DPO step from version 0 on exactly this example. */
    private static String stepOn(InMemoryWeightLog log, Tokenizer tokenizer, PreferenceExample e) throws Exception {
        PolicyUpdate v0 = log.versions().get(0);
        try (NDManager m = NDManager.newBaseManager(); VerifiedVersion v = log.readVerified(v0)) {
            PolicyDirectory.Loaded loaded = PolicyDirectory.load(v.dir(), m);
            try (DpoTrainer t = new DpoTrainer(loaded.model(), DPO)) {
                assertThat(t.step(List.of(e)).skipped()).isFalse();
                return checksum(t.policy());
            }
        }
    }

    private static String paramsOf(InMemoryWeightLog log, PolicyUpdate u) throws Exception {
        try (NDManager m = NDManager.newBaseManager(); VerifiedVersion v = log.readVerified(u)) {
            try (TransformerLM model = PolicyDirectory.load(v.dir(), m).model()) {
                return checksum(model);
            }
        }
    }

    /** SHA-256 over every parameter's float32 values, in the model's parameter order (versions are published in float32). */
    private static String checksum(TransformerLM model) throws Exception {
        java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
        for (var e : model.parameters().entrySet()) {
            sha.update(e.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            sha.update(e.getValue().toByteArray());
        }
        return java.util.HexFormat.of().formatHex(sha.digest());
    }

    /**
     * GPT-2's BPE encodes " hello" as one token; a policy may sample it as " hel" + "lo", which
     * decodes to the same text. The trainer must train on the split it sampled, with the EOS it
     * sampled, and the other response as the length limit cut it (no EOS added).
     */
    @Test
    void theTrainerTrainsOnTheSampledIdsNotARetokenisationOfTheirText() throws Exception {
        HfTokenizer gpt2 = HfTokenizer.load(tokenizerDir("gpt2"));
        int eos = gpt2.eosId();
        int[] split = concat(gpt2.encode(" hel"), gpt2.encode("lo"));
        assertThat(gpt2.decode(split)).isEqualTo(" hello");
        assertThat(gpt2.encode(" hello")).as("the split is not what encoding the text gives").isNotEqualTo(split);
        int[] finished = concat(split, new int[] {eos});
        int[] cut = gpt2.encode(" bye bye bye"); // cut by the length limit: no EOS
        InMemoryWeightLog log = logWith(gpt2, 0);

        Prompt prompt = new Prompt("p-hello", "req-hello", "Say hello:", "", 0L);
        int[] promptIds = gpt2.encode("Say hello:");
        Generation g = new Generation(new GenerationRequest(prompt, null, 0L), promptIds, new SampledResponse[] {
            new SampledResponse(cut, new float[cut.length], true, gpt2.decode(cut)),
            new SampledResponse(finished, new float[finished.length], false, gpt2.decode(finished)),
        }, 0, cut.length + finished.length);

        SEEN.clear();
        List<ScoredGeneration> scored = score(g);
        assertThat(scored).hasSize(1);
        assertThat(SEEN).extracting(RewardQuery::response).containsExactly(" bye bye bye", " hello");
        List<PreferencePair> pairs = pair(scored.get(0));
        assertThat(pairs).hasSize(1);
        PreferencePair p = pairs.get(0);
        assertThat(p.chosen().ids()).isEqualTo(finished);
        assertThat(p.rejected().ids()).isEqualTo(cut);
        assertThat(p.promptIds()).isEqualTo(promptIds);
        List<PreferenceBatch> batches = batch(p);
        assertThat(batches).hasSize(1);
        List<PromptOutcome> ledger = new ArrayList<>();
        PolicyUpdate v1 = train(log, batches.get(0), ledger);
        assertThat(ledger).singleElement().satisfies(o -> {
            assertThat(o.outcome()).isEqualTo(PromptOutcome.Outcome.TRAINED);
            assertThat(o.requestId()).isEqualTo("req-hello");
        });

        // The published weights are those of one step on exactly the sampled ids ...
        String trained = paramsOf(log, v1);
        assertThat(trained).isEqualTo(stepOn(log, gpt2, new PreferenceExample(promptIds, finished, cut, 1.0)));
        // ... and not those of a re-tokenisation of the text, of a chosen response without its EOS,
        // or of a cut response with an invented EOS (so this test can tell them apart).
        int[] reencoded = concat(gpt2.encode(" hello"), new int[] {eos});
        assertThat(trained).isNotEqualTo(stepOn(log, gpt2, new PreferenceExample(promptIds, reencoded, cut, 1.0)));
        assertThat(trained).isNotEqualTo(stepOn(log, gpt2, new PreferenceExample(promptIds, split, cut, 1.0)));
        assertThat(trained).isNotEqualTo(stepOn(log, gpt2, new PreferenceExample(promptIds, finished, concat(cut, new int[] {eos}), 1.0)));
    }

    /**
     * A chat prompt goes the whole way: rendered once by the policy's chat template at generation,
     * scored as messages, paired, batched and trained on the rendered ids. The policy's embedding
     * is padded past the tokenizer's vocabulary, as Hugging Face models' often are.
     */
    @Test
    void aChatPromptIsGeneratedScoredPairedBatchedAndTrained() throws Exception {
        HfTokenizer qwen = HfTokenizer.load(tokenizerDir("qwen3"));
        assertThat(qwen.hasChatTemplate()).isTrue();
        InMemoryWeightLog log = logWith(qwen, 7);
        List<ChatMessage> messages = List.of(ChatMessage.system("Answer in one word."), ChatMessage.user("Capital of France?"));
        Prompt chat = new Prompt("c-1", "req-c-1", "", messages, "", 0L);

        List<Generation> generations;
        SamplingConfig sampling = new SamplingConfig(1.5f, 1f, 6, 4);
        try (var h = new TwoInputStreamOperatorTestHarness<GenerationRequest, PolicyUpdate, Generation>(
                new GenerateOperator(log, sampling, MAX_PROMPT_TOKENS, 1, 100, 1L))) {
            h.open();
            h.processElement1(new StreamRecord<>(new GenerationRequest(chat, null, 0L)));
            OperatorTestSupport.settle(h);
            generations = h.extractOutputValues();
        }
        assertThat(generations).hasSize(1);
        Generation g = generations.get(0);
        int[] rendered = qwen.encodeChat(messages);
        assertThat(g.promptIds()).isEqualTo(rendered);
        assertThat(g.responses()).hasSize(4).allSatisfy(r -> {
            assertThat(r.text()).isEqualTo(qwen.decode(r.ids()));
            assertThat(r.cut()).isEqualTo(!qwen.isEos(r.ids()[r.ids().length - 1]));
        });

        SEEN.clear();
        List<ScoredGeneration> scored = score(g);
        assertThat(scored).hasSize(1);
        assertThat(SEEN).hasSize(4).allSatisfy(q -> {
            assertThat(q.isChat()).isTrue();
            assertThat(q.messages()).isEqualTo(messages);
        });
        List<PreferencePair> pairs = pair(scored.get(0));
        assertThat(pairs).hasSize(1);
        PreferencePair p = pairs.get(0);
        assertThat(p.promptIds()).isEqualTo(rendered);
        assertThat(p.prompt()).isEqualTo(chat.display());
        // Best and worst by the stub's scores: the first response (0) and the last (-0.3), unless one says hello.
        List<int[]> sampledIds = Arrays.stream(g.responses()).map(SampledResponse::ids).toList();
        assertThat(sampledIds).contains(p.chosen().ids(), p.rejected().ids());

        List<PreferenceBatch> batches = batch(p);
        List<PromptOutcome> ledger = new ArrayList<>();
        PolicyUpdate v1 = train(log, batches.get(0), ledger);
        assertThat(ledger).singleElement().satisfies(o -> {
            assertThat(o.outcome()).isEqualTo(PromptOutcome.Outcome.TRAINED);
            assertThat(o.requestId()).isEqualTo("req-c-1");
        });
        assertThat(paramsOf(log, v1)).isEqualTo(stepOn(log, qwen,
                new PreferenceExample(rendered, p.chosen().ids(), p.rejected().ids(), 1.0)));
    }

    /** Ids the policy cannot embed (a corrupt or foreign memory) are refused by the trainer and ledgered, not trained. */
    @Test
    void aPairWithIdsOutsideTheVocabularyIsSkippedWithItsReason() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        PreferencePair good = OperatorTestSupport.pair("rev ab=", "ba", "ab", 0.5);
        PreferencePair bad = new PreferencePair("p-bad", "req-bad", "rev ab=", good.promptIds(),
                new io.optune.engine.loop.PairBuilder.Pair(new io.optune.engine.loop.Response(new int[] {1, 99_999}, "?"), 1.0,
                        good.rejected(), 0.0, 1.0), 0, true);
        try (var h = new OneInputStreamOperatorTestHarness<>(new io.optune.operators.train.TrainOperator(
                new TrainFunction(log, DPO, 1)))) {
            h.open();
            h.processElement(new StreamRecord<>(new PreferenceBatch(new PreferencePair[] {good, bad}, 0L)));
            List<PromptOutcome> ledger = h.getSideOutput(PromptOutcome.LEDGER).stream().map(StreamRecord::getValue).toList();
            assertThat(ledger).extracting(PromptOutcome::requestId, PromptOutcome::outcome, PromptOutcome::reason).containsExactlyInAnyOrder(
                    org.assertj.core.groups.Tuple.tuple("req-bad", PromptOutcome.Outcome.SKIPPED, "invalid-pair"),
                    org.assertj.core.groups.Tuple.tuple("req-rev ab=", PromptOutcome.Outcome.TRAINED, ""));
        }
    }
}
