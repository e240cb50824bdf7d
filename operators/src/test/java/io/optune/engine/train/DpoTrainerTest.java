package io.optune.engine.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.model.LogProbs;
import io.optune.engine.model.TransformerLM;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.optune.engine.EngineTestSupport.ENCODER;
import static org.assertj.core.api.Assertions.assertThat;

class DpoTrainerTest {
    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    static List<PreferenceExample> batch() {
        return List.of(
                new PreferenceExample(ENCODER.encodePrompt("rev abc="), ENCODER.encodeResponse("cba"), ENCODER.encodeResponse("abc"), 1.5),
                new PreferenceExample(ENCODER.encodePrompt("add 2+3="), ENCODER.encodeResponse("5"), ENCODER.encodeResponse("6"), 1.0),
                new PreferenceExample(ENCODER.encodePrompt("sort cab="), ENCODER.encodeResponse("abc"), ENCODER.encodeResponse("ab"), 0.5));
    }

    static DpoConfig config(LossType type, float nll) {
        return new DpoConfig(type, 0.5f, nll, AdamWConfig.of(3e-3f).withWarmup(2));
    }

    @Test
    void stepsRaiseTheMarginAndKeepTheReferenceFrozen() {
        for (LossType type : LossType.values()) {
            TransformerLM policy = EngineTestSupport.smallModel(manager, 5);
            try (DpoTrainer trainer = new DpoTrainer(policy, config(type, type == LossType.SIGMOID ? 0.2f : 0f))) {
                float[] refBefore = trainer.reference().parameters().get("transformer.h.0.mlp.c_fc.weight").toFloatArray();
                StepResult first = trainer.step(batch());
                StepResult last = first;
                for (int i = 0; i < 30; i++) {
                    last = trainer.step(batch());
                }
                assertThat(first.margin()).as(type.name()).isCloseTo(0.0, org.assertj.core.api.Assertions.within(1e-4));
                assertThat(last.margin()).as(type.name()).isGreaterThan(0.5);
                assertThat(last.accuracy()).isEqualTo(1.0);
                assertThat(last.loss()).isLessThan(first.loss());
                assertThat(trainer.step()).isEqualTo(31);
                assertThat(trainer.reference().parameters().get("transformer.h.0.mlp.c_fc.weight").toFloatArray()).containsExactly(refBefore);

                trainer.refreshReference();
                float[] p = LogProbs.sequenceLogProbsNoGrad(trainer.policy(), manager,
                        List.of(batch().get(0).prompt()), List.of(batch().get(0).chosen()));
                float[] r = LogProbs.sequenceLogProbsNoGrad(trainer.reference(), manager,
                        List.of(batch().get(0).prompt()), List.of(batch().get(0).chosen()));
                assertThat(p).containsExactly(r);
            }
        }
    }

    @Test
    void theReferenceIsRefreshedOnScheduleWithTheMixUpWeight() {
        String name = "transformer.h.0.mlp.c_fc.weight";
        TransformerLM policy = EngineTestSupport.smallModel(manager, 7);
        try (DpoTrainer trainer = new DpoTrainer(policy, config(LossType.SIGMOID, 0.2f))) {
            trainer.setReferenceRefresh(3, 0.25);
            float[] ref0 = trainer.reference().parameters().get(name).toFloatArray();
            trainer.step(batch());
            trainer.step(batch());
            assertThat(trainer.reference().parameters().get(name).toFloatArray()).as("frozen between refreshes").containsExactly(ref0);
            trainer.step(batch()); // step 3: ref = 0.25 * policy + 0.75 * ref
            float[] pol = trainer.policy().parameters().get(name).toFloatArray();
            float[] ref1 = trainer.reference().parameters().get(name).toFloatArray();
            boolean moved = false;
            for (int i = 0; i < ref1.length; i++) {
                assertThat(ref1[i]).isCloseTo(0.25f * pol[i] + 0.75f * ref0[i], org.assertj.core.api.Assertions.within(1e-6f));
                moved |= ref1[i] != ref0[i];
            }
            assertThat(moved).isTrue();
            trainer.step(batch()); // step 4: no refresh
            assertThat(trainer.reference().parameters().get(name).toFloatArray()).containsExactly(ref1);
            trainer.setReferenceRefresh(1, 1.0); // alpha 1: a copy
            trainer.step(batch());
            assertThat(trainer.reference().parameters().get(name).toFloatArray())
                    .containsExactly(trainer.policy().parameters().get(name).toFloatArray());
        }
    }

    @Test
    void aNonFiniteLossSkipsTheStepAndCountsIt() {
        TransformerLM policy = EngineTestSupport.smallModel(manager, 6);
        try (DpoTrainer trainer = new DpoTrainer(policy, config(LossType.SIGMOID, 0f))) {
            trainer.step(batch());
            NDArray w = trainer.policy().parameters().get("transformer.h.1.attn.c_proj.weight");
            w.set(new NDIndex("0, 0"), Float.NaN);
            float[] before = trainer.policy().parameters().get("transformer.wte.weight").toFloatArray();
            StepResult r = trainer.step(batch());
            assertThat(r.skipped()).isTrue();
            assertThat(trainer.skippedSteps()).isEqualTo(1);
            assertThat(trainer.step()).isEqualTo(1);
            assertThat(trainer.policy().parameters().get("transformer.wte.weight").toFloatArray()).containsExactly(before);
        }
    }

    /** Micro-batches accumulate exactly the whole batch's loss and gradients (weights normalised once). */
    @Test
    void microBatchesGiveTheWholeBatchsLossAndGradients() {
        TransformerLM a = EngineTestSupport.sharpModel(io.optune.engine.model.ModelFamily.QWEN2, manager, 7);
        TransformerLM b = a.copy(manager);
        TransformerLM ref = EngineTestSupport.sharpModel(io.optune.engine.model.ModelFamily.QWEN2, manager, 9);
        DpoConfig whole = config(LossType.SIGMOID, 0.2f);
        try (DpoTrainer one = new DpoTrainer(a, ref.copy(manager), whole);
                DpoTrainer micro = new DpoTrainer(b, ref, whole.withMicroBatchPairs(2))) {
            DpoTrainer.Evaluation e1 = one.lossAndGradients(batch());
            DpoTrainer.Evaluation e2 = micro.lossAndGradients(batch());
            assertThat(e2.loss()).isCloseTo(e1.loss(), org.assertj.core.api.Assertions.within(1e-5));
            assertThat(e2.margins()).containsExactly(e1.margins(), org.assertj.core.api.Assertions.within(1e-4f));
            assertThat(e1.loss()).isPositive();
            assertThat(Math.abs(e1.margins()[0])).isGreaterThan(1e-2f); // policy and reference differ
            for (String name : one.policy().parameters().keySet()) {
                float[] g1 = one.policy().parameters().get(name).getGradient().toFloatArray();
                float[] g2 = micro.policy().parameters().get(name).getGradient().toFloatArray();
                double diff = 0;
                double norm = 0;
                for (int i = 0; i < g1.length; i++) {
                    diff += (g1[i] - g2[i]) * (double) (g1[i] - g2[i]);
                    norm += g1[i] * (double) g1[i];
                }
                assertThat(Math.sqrt(diff)).as(name).isLessThanOrEqualTo(1e-4 * Math.sqrt(norm) + 1e-7);
            }
        }
    }

    @Test
    void weightDecayAppliesToBlockMatricesByTheirHuggingFaceNames() {
        try (TransformerLM m = EngineTestSupport.sharpModel(io.optune.engine.model.ModelFamily.LLAMA, manager, 8)) {
            assertThat(m.decayedParameters()).contains("model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight")
                    .doesNotContain("model.embed_tokens.weight", "lm_head.weight", "model.layers.0.input_layernorm.weight",
                            "model.norm.weight");
        }
    }
}
