package io.optune.operators;

import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.loop.PairBuilder;
import io.optune.engine.loop.Response;
import io.optune.operators.records.Generation;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.records.StoredPair;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.Prompt;
import io.optune.operators.weights.InMemoryWeightLog;

/** Fixtures for operator tests. */
public final class OperatorTestSupport {
    private OperatorTestSupport() {}

    /** A weight log holding a small random policy as version {@code version}. */
    /**
     * Runs the task's mails until the generator in {@code h} has handled everything it handed to its
     * sampling thread (batches and version loads): what a running task's mailbox does by itself.
     */
    public static void settle(org.apache.flink.streaming.util.TwoInputStreamOperatorTestHarness<GenerationRequest, PolicyUpdate, Generation> h)
            throws Exception {
        var generator = (io.optune.operators.generate.GenerateOperator) h.getOperator();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!generator.idle()) {
            var mail = h.getTaskMailbox().tryTake(org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox.MIN_PRIORITY);
            if (mail.isPresent()) {
                mail.get().run();
            } else if (System.nanoTime() > deadline) {
                throw new AssertionError("the generator did not settle within 60 s");
            } else {
                Thread.sleep(1);
            }
        }
    }

    public static InMemoryWeightLog logWithPolicy(long version, long seed) throws Exception {
        InMemoryWeightLog log = new InMemoryWeightLog();
        publish(log, version, seed);
        return log;
    }

    public static PolicyUpdate publish(InMemoryWeightLog log, long version, long seed) throws Exception {
        try (NDManager m = NDManager.newBaseManager(); TransformerLM model = EngineTestSupport.smallModel(m, seed)) {
            return log.publish(new PolicyUpdate(version, version * 10, null, null, System.currentTimeMillis(), 0, 0, 0, 0, 0, Double.NaN),
                    dir -> PolicyDirectory.write(model, EngineTestSupport.TOKENIZER,
                            PolicyDirectory.TokenizerFiles.of(EngineTestSupport.TOKENIZER), SafeTensorsStream.Dtype.F32, dir));
        }
    }

    public static Prompt prompt(String text) {
        return new Prompt(io.optune.engine.task.BuiltinTask.idOf(text), "req-" + text, text, "", 0L);
    }

    public static GenerationRequest request(String text) {
        return new GenerationRequest(prompt(text), null, 0L);
    }

    /** The built-in task prompt's ids as the generator feeds them. */
    public static int[] promptIds(String prompt) {
        return EngineTestSupport.ENCODER.encodePrompt(prompt);
    }

    /** A response that ended with EOS: its text's ids, then the EOS id (as sampled). */
    public static Response response(String text) {
        int[] ids = EngineTestSupport.TOKENIZER.encode(text);
        int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = EngineTestSupport.TOKENIZER.eosId();
        return new Response(out, text);
    }

    public static SampledResponse sampled(String text) {
        Response r = response(text);
        return new SampledResponse(r.ids(), new float[r.ids().length], false, text);
    }

    /** K responses to a built-in task prompt, each ended with EOS. */
    public static Generation generation(GenerationRequest request, long version, String... responses) {
        SampledResponse[] out = new SampledResponse[responses.length];
        int tokens = 0;
        for (int i = 0; i < responses.length; i++) {
            out[i] = sampled(responses[i]);
            tokens += out[i].ids().length;
        }
        return new Generation(request, promptIds(request.prompt().text()), out, version, tokens);
    }

    /** A memory of a built-in task prompt. */
    public static StoredPair stored(String prompt, String chosen, double chosenReward, String rejected, double rejectedReward,
            double latestReward, long version) {
        return new StoredPair(promptIds(prompt), response(chosen), chosenReward, response(rejected), rejectedReward, latestReward, version);
    }

    public static PreferencePair pair(String prompt, String chosen, String rejected, double gap) {
        return pair(prompt, chosen, rejected, 1.0, 1.0 - gap, 1.0, 0, true);
    }

    public static PreferencePair pair(String prompt, String chosen, String rejected, double chosenReward, double rejectedReward,
            double weight, long version, boolean fresh) {
        return new PreferencePair(io.optune.engine.task.BuiltinTask.idOf(prompt), "req-" + prompt, prompt, promptIds(prompt),
                new PairBuilder.Pair(response(chosen), chosenReward, response(rejected), rejectedReward, weight), version, fresh);
    }
}
