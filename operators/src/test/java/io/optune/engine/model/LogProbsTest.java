package io.optune.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.optune.engine.EngineTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;

import static io.optune.engine.EngineTestSupport.ENCODER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class LogProbsTest {
    private NDManager manager;
    private TransformerLM model;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
        model = EngineTestSupport.smallModel(manager, 3);
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    @Test
    void matchesAHandComputedSumOfResponseTokenLogProbs() {
        int[] prompt = ENCODER.encodePrompt("rev abc=");
        int[] response = ENCODER.encodeResponse("cba");
        // Unpadded forward over prompt + response, then log-softmax and the sum in plain Java.
        int len = prompt.length + response.length;
        long[] seq = new long[len];
        for (int i = 0; i < len; i++) {
            seq[i] = i < prompt.length ? prompt[i] : response[i - prompt.length];
        }
        long[] pos = new long[len];
        for (int i = 0; i < len; i++) {
            pos[i] = i;
        }
        float[] logits = model.logits(model.hidden(manager.create(seq, new Shape(1, len)),
                manager.create(pos, new Shape(1, len)), Batches.causalBias(manager, len), null)).toFloatArray();
        int vocab = model.config().vocabSize();
        double expected = 0;
        for (int t = prompt.length - 1; t < len - 1; t++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) {
                max = Math.max(max, logits[t * vocab + v]);
            }
            double z = 0;
            for (int v = 0; v < vocab; v++) {
                z += Math.exp(logits[t * vocab + v] - max);
            }
            expected += logits[t * vocab + (int) seq[t + 1]] - max - Math.log(z);
        }
        float[] got = LogProbs.sequenceLogProbsNoGrad(model, manager, List.of(prompt), List.of(response));
        assertThat((double) got[0]).isCloseTo(expected, within(1e-4));
        assertThat(expected).isLessThan(0);
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void paddingDoesNotChangeARowsLogProb(ModelFamily family) {
        TransformerLM model = EngineTestSupport.sharpModel(family, manager, 4);
        int[] shortPrompt = ENCODER.encodePrompt("copy ab=");
        int[] shortResp = ENCODER.encodeResponse("ab");
        int[] longPrompt = ENCODER.encodePrompt("sort hgfedcba=");
        int[] longResp = ENCODER.encodeResponse("abcdefgh");
        float alone = LogProbs.sequenceLogProbsNoGrad(model, manager, List.of(shortPrompt), List.of(shortResp))[0];
        float[] batched = LogProbs.sequenceLogProbsNoGrad(model, manager,
                List.of(longPrompt, shortPrompt), List.of(longResp, shortResp));
        assertThat(batched[1]).isCloseTo(alone, within(1e-3f));
        assertThat(Math.abs(batched[0] - batched[1])).isGreaterThan(1e-2f); // the rows are different
    }

    /** Left padding (generation prefill) shifts a row's positions: its logits equal the unpadded row's. */
    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void leftPaddingDoesNotChangeARowsLogits(ModelFamily family) {
        TransformerLM model = EngineTestSupport.sharpModel(family, manager, 5);
        int[] shortPrompt = ENCODER.encodePrompt("copy ab=");
        int[] longPrompt = ENCODER.encodePrompt("sort hgfedcba=");
        int vocab = model.config().vocabSize();
        Batches.Prefill alone = Batches.prefill(manager, List.of(shortPrompt));
        float[] a = model.logits(model.hidden(alone.tokens(), alone.positions(), alone.bias(), null)).toFloatArray();
        Batches.Prefill both = Batches.prefill(manager, List.of(longPrompt, shortPrompt));
        float[] b = model.logits(model.hidden(both.tokens(), both.positions(), both.bias(), null)).toFloatArray();
        int pad = both.padding()[1];
        assertThat(pad).isPositive();
        double maxDiff = 0;
        double spread = 0;
        for (int t = 0; t < shortPrompt.length; t++) {
            for (int v = 0; v < vocab; v++) {
                float padded = b[(both.width() + t + pad) * vocab + v]; // row 1, after its padding
                maxDiff = Math.max(maxDiff, Math.abs(padded - a[t * vocab + v]));
                spread = Math.max(spread, Math.abs(a[t * vocab + v] - a[v]));
            }
        }
        assertThat(maxDiff).as("max |padded - unpadded logits|").isLessThan(5e-4);
        assertThat(spread).as("logits vary with position").isGreaterThan(1e-2);
    }

    @Test
    void emptyResponseHasLogProbZero() {
        float[] got = LogProbs.sequenceLogProbsNoGrad(model, manager,
                List.of(ENCODER.encodePrompt("copy a=")), List.of(new int[0]));
        assertThat(got[0]).isEqualTo(0f);
    }

    @Test
    void refusesSequencesLongerThanTheContext() {
        int[] prompt = ENCODER.encodePrompt("copy abcdefghij=");
        int[] response = ENCODER.encodeResponse("a".repeat(20));
        org.assertj.core.api.Assertions.assertThatThrownBy(
                        () -> LogProbs.sequenceLogProbsNoGrad(model, manager, List.of(prompt), List.of(response)))
                .hasMessageContaining("context");
    }

    @Test
    void copyIsIndependentOfTheOriginal() {
        TransformerLM copy = model.copy(manager);
        NDArray w = model.parameters().get("transformer.wte.weight");
        float before = copy.parameters().get("transformer.wte.weight").getFloat(5, 5);
        w.set(new ai.djl.ndarray.index.NDIndex("5, 5"), 123f);
        assertThat(copy.parameters().get("transformer.wte.weight").getFloat(5, 5)).isEqualTo(before);
    }
}
