package io.optune.engine.generate;

import ai.djl.ndarray.NDManager;
import io.optune.engine.Rng;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** What crosses from the engine to Java per sampled token: only the drawn ids above the small-vocabulary cut. */
class GeneratorTransfersTest {
    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    private long copiedFor(int vocab, SamplingConfig cfg, int prompts) {
        TransformerLM model = TransformerLM.create(ModelConfig.gpt2(vocab, 64, 32, 1, 2), manager, 3, false);
        Generator gen = new Generator(model, new int[0], 0); // no EOS: every row samples every step
        List<int[]> rows = java.util.Collections.nCopies(prompts, new int[] {5, 6, 7});
        List<Completion> out = gen.generate(manager, rows, cfg, new Rng(1));
        assertThat(out).hasSize(prompts * cfg.samplesPerPrompt()).allSatisfy(c -> assertThat(c.tokens()).hasSize(cfg.maxNewTokens()));
        return gen.hostValuesCopied();
    }

    @ParameterizedTest
    @CsvSource({"1.0, 1.0", "0.8, 0.9", "0.0, 1.0"})
    void aLargeVocabularySendsOnlyTheDrawnIdsToJava(float temperature, float topP) {
        int vocab = Generator.JAVA_SAMPLING_MAX_VOCAB + 904;
        SamplingConfig cfg = new SamplingConfig(temperature, topP, 5, 2);
        // 3 prompts x K 2 = 6 rows, 5 tokens each: 30 ids and their 30 sampling log-probs, never a row of logits.
        assertThat(copiedFor(vocab, cfg, 3)).isEqualTo(2L * 6 * 5).isLessThan(vocab);
    }

    @ParameterizedTest
    @CsvSource({"1.0, 1.0", "0.8, 0.9"})
    void aSmallVocabularyIsSampledInJavaFromItsLogits(float temperature, float topP) {
        // Below the cut a copy of the logits costs less than the engine ops (the tiny built-in model):
        // the test pins that choice so that a change to it is deliberate.
        int vocab = 98;
        assertThat(copiedFor(vocab, new SamplingConfig(temperature, topP, 5, 2), 3)).isEqualTo(6L * 5 * vocab);
    }
}
