package io.optune.operators;

import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.Prompt;
import io.optune.operators.weights.InMemoryWeightLog;

/** Fixtures for operator tests. */
public final class OperatorTestSupport {
    private OperatorTestSupport() {}

    /** A weight log holding a small random policy as version {@code version}. */
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

    public static PreferencePair pair(String prompt, String chosen, String rejected, double gap) {
        return new PreferencePair(io.optune.engine.task.BuiltinTask.idOf(prompt), "req-" + prompt, prompt, chosen, rejected, 1.0, 1.0 - gap, 1.0, 0, true);
    }
}
