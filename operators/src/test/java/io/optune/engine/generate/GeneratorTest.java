package io.optune.engine.generate;

import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.InvalidInputException;
import io.optune.engine.Rng;
import io.optune.engine.model.Batches;
import io.optune.engine.model.ModelFamily;
import io.optune.engine.model.TransformerLM;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;

import static io.optune.engine.EngineTestSupport.ENCODER;
import static io.optune.engine.EngineTestSupport.TOKENIZER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class GeneratorTest {
    private NDManager manager;
    private TransformerLM model;
    private Generator generator;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
        model = EngineTestSupport.smallModel(manager, 11);
        generator = new Generator(model, TOKENIZER);
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    /**
     * The logits each token was sampled from equal those of a full forward over the whole text, for
     * every family (learned positions and RoPE with left padding, grouped-query attention, biases,
     * q/k norms, tied and untied heads).
     */
    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void kvCachedLogitsEqualAFullRecompute(ModelFamily family) {
        TransformerLM model = EngineTestSupport.sharpModel(family, manager, 11);
        Generator generator = new Generator(model, TOKENIZER);
        List<int[]> prompts = List.of(ENCODER.encodePrompt("rev abcd="), ENCODER.encodePrompt("add 1+2="));
        SamplingConfig cfg = new SamplingConfig(1.0f, 1f, 6, 2);
        List<float[]> trace = new ArrayList<>();
        List<Completion> out = generator.generate(manager, prompts, cfg, new Rng(5), trace);
        int vocab = model.config().vocabSize();
        int rows = out.size();
        assertThat(rows).isEqualTo(4);
        int steps = trace.size();
        assertThat(steps).isGreaterThan(1);
        // Full sequences: every row's prompt followed by the tokens fed so far (pad after EOS, as the cache saw).
        List<int[]> full = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            int[] prompt = prompts.get(out.get(i).promptIndex());
            int[] seq = new int[prompt.length + steps - 1];
            System.arraycopy(prompt, 0, seq, 0, prompt.length);
            int[] toks = out.get(i).tokens();
            for (int s = 0; s < steps - 1; s++) {
                seq[prompt.length + s] = s < toks.length ? toks[s] : TOKENIZER.padId();
            }
            full.add(seq);
        }
        Batches.Prefill pre = Batches.prefill(manager, full);
        // Positions must continue past the prompt exactly as in decoding; prefill computes them the same way.
        float[] logits = model.logits(model.hidden(pre.tokens(), pre.positions(), pre.bias(), null)).toFloatArray();
        int width = pre.width();
        for (int s = 0; s < steps; s++) {
            for (int i = 0; i < rows; i++) {
                int promptLen = prompts.get(out.get(i).promptIndex()).length;
                int col = pre.padding()[i] + promptLen - 1 + s;
                if (s > out.get(i).tokens().length) {
                    continue; // rows already ended are not compared
                }
                for (int v = 0; v < vocab; v++) {
                    float cached = trace.get(s)[i * vocab + v];
                    float recomputed = logits[(i * width + col) * vocab + v];
                    assertThat(cached).as("row %d step %d vocab %d", i, s, v)
                            .isCloseTo(recomputed, org.assertj.core.api.Assertions.within(5e-4f));
                }
            }
        }
    }

    @Test
    void sameSeedSameSamplesAndGreedyIsDeterministic() {
        List<int[]> prompts = List.of(ENCODER.encodePrompt("sort cab="));
        SamplingConfig cfg = new SamplingConfig(1.0f, 0.9f, 8, 3);
        List<Completion> a = generator.generate(manager, prompts, cfg, new Rng(9));
        List<Completion> b = generator.generate(manager, prompts, cfg, new Rng(9));
        for (int i = 0; i < a.size(); i++) {
            assertThat(a.get(i).tokens()).isEqualTo(b.get(i).tokens());
        }
        List<Completion> g1 = generator.generate(manager, prompts, SamplingConfig.greedy(8).withSamples(2), new Rng(1));
        assertThat(g1.get(0).tokens()).isEqualTo(g1.get(1).tokens());
    }

    @Test
    void respectsTheLengthLimitAndMarksEos() {
        List<Completion> out = generator.generate(manager, List.of(ENCODER.encodePrompt("copy ab=")),
                new SamplingConfig(1.5f, 1f, 5, 8), new Rng(2));
        for (Completion c : out) {
            assertThat(c.tokens().length).isBetween(1, 5);
            boolean endsWithEos = c.tokens()[c.tokens().length - 1] == TOKENIZER.eosId();
            assertThat(c.finished()).isEqualTo(endsWithEos);
            // A cut response carries no EOS anywhere: nothing is invented.
            if (!c.finished()) {
                assertThat(c.tokens()).hasSize(5).doesNotContain(TOKENIZER.eosId());
            }
            assertThat(c.logProbs()).hasSize(c.tokens().length);
            for (float v : c.logProbs()) {
                assertThat(v).isLessThanOrEqualTo(0f);
            }
        }
    }

    @Test
    void topPOfAlmostZeroIsGreedy() {
        float[] logits = {0.1f, 2.0f, 1.9f, -1f};
        SamplingConfig cfg = new SamplingConfig(1f, 1e-6f, 1, 1);
        Rng rng = new Rng(3);
        for (int i = 0; i < 50; i++) {
            assertThat(Generator.sample(logits, 0, 4, cfg, rng)).isEqualTo(1);
        }
    }

    @Test
    void samplingFollowsTheSoftmax() {
        float[] logits = {0f, (float) Math.log(3)}; // p = 0.25, 0.75
        SamplingConfig cfg = new SamplingConfig(1f, 1f, 1, 1);
        Rng rng = new Rng(4);
        int ones = 0;
        for (int i = 0; i < 20_000; i++) {
            ones += Generator.sample(logits, 0, 2, cfg, rng);
        }
        assertThat(ones / 20_000.0).isBetween(0.73, 0.77);
    }

    /** The engine-side draw has the distribution of the Java one: softmax, temperature, top-p, greedy. */
    @Test
    void engineSamplingFollowsTheTruncatedSoftmax() {
        float[] row = {0f, (float) Math.log(3), -30f, (float) Math.log(6)}; // p = 0.1, 0.3, ~0, 0.6
        int rows = 20_000;
        float[] logits = new float[rows * 4];
        float[] u = new float[rows];
        Rng rng = new Rng(4);
        for (int i = 0; i < rows; i++) {
            System.arraycopy(row, 0, logits, i * 4, 4);
            u[i] = (float) rng.nextDouble();
        }
        try (NDManager m = manager.newSubManager()) {
            ai.djl.ndarray.NDArray l = m.create(logits, new ai.djl.ndarray.types.Shape(rows, 4));
            int[] counts = new int[4];
            Generator.Drawn full = Generator.sampleRows(l, new SamplingConfig(1f, 1f, 1, 1), u);
            for (int id : full.ids()) {
                counts[id]++;
            }
            // Each id comes with its log-probability under the distribution it was drawn from.
            double[] p = {0.1, 0.3, 0, 0.6};
            for (int i = 0; i < rows; i += 97) {
                assertThat((double) full.logProbs()[i]).isCloseTo(Math.log(p[full.ids()[i]]), within(1e-5));
            }
            assertThat(counts[0] / (double) rows).isBetween(0.09, 0.11);
            assertThat(counts[1] / (double) rows).isBetween(0.28, 0.32);
            assertThat(counts[2]).isZero();
            int[] nucleus = new int[4];
            Generator.Drawn top = Generator.sampleRows(l, new SamplingConfig(1f, 0.8f, 1, 1), u);
            for (int id : top.ids()) {
                nucleus[id]++; // keeps 0.6 and 0.3 (the one crossing 0.8), renormalised: 2/3, 1/3
            }
            for (int i = 0; i < rows; i += 97) {
                assertThat((double) top.logProbs()[i]).isCloseTo(Math.log(top.ids()[i] == 3 ? 2.0 / 3 : 1.0 / 3), within(1e-5));
            }
            assertThat(nucleus[0] + nucleus[2]).isZero();
            assertThat(nucleus[3] / (double) rows).isBetween(0.64, 0.69);
            assertThat(Generator.sampleRows(l, new SamplingConfig(1f, 1e-6f, 1, 1), u).ids()).containsOnly(3);
            // log 1 up to rounding: exactly 0 on a CPU, -6e-8 on an H100 (log p minus log of the kept mass)
            for (float lp : Generator.sampleRows(l, new SamplingConfig(1f, 1e-6f, 1, 1), u).logProbs()) {
                assertThat(lp).isCloseTo(0f, within(1e-6f));
            }
            assertThat(Generator.sampleRows(l, SamplingConfig.greedy(1), u).ids()).containsOnly(3);
            assertThat(Generator.sampleRows(l, SamplingConfig.greedy(1), u).logProbs()).containsOnly(0f);
        }
    }

    /**
     * The nucleus searched among the most likely candidates gives the draws of the full sort, and
     * the search reports a nucleus larger than its candidates instead of truncating it.
     */
    @Test
    void theCandidateSearchDrawsWhatTheFullSortDraws() {
        int rows = 64;
        int vocab = 3000;
        Rng rng = new Rng(12);
        float[] peaked = new float[rows * vocab];
        float[] flat = new float[rows * vocab];
        for (int i = 0; i < peaked.length; i++) {
            double z = rng.nextGaussian();
            peaked[i] = (float) (8 * z); // a few dozen tokens hold 0.9 of the mass
            flat[i] = (float) (0.01 * z); // ~2,700 tokens needed for 0.9
        }
        float[] u = new float[rows];
        for (int i = 0; i < rows; i++) {
            u[i] = (float) rng.nextDouble();
        }
        SamplingConfig cfg = new SamplingConfig(1f, 0.9f, 1, 1);
        try (NDManager m = manager.newSubManager()) {
            ai.djl.ndarray.NDArray l = m.create(peaked, new ai.djl.ndarray.types.Shape(rows, vocab));
            ai.djl.ndarray.NDArray logp = l.logSoftmax(1);
            Generator.Drawn fast = Generator.amongCandidates(logp, logp.exp(), m.create(u, new ai.djl.ndarray.types.Shape(rows, 1)), cfg, 256);
            assertThat(fast).as("the nucleus of peaked rows fits 256 candidates").isNotNull();
            Generator.Drawn full = Generator.sampleRows(l, cfg, u, vocab);
            assertThat(fast.ids()).isEqualTo(full.ids());
            for (int i = 0; i < rows; i++) {
                assertThat(fast.logProbs()[i]).isCloseTo(full.logProbs()[i], within(1e-5f));
            }
            assertThat(Generator.sampleRows(l, cfg, u).ids()).isEqualTo(full.ids());

            ai.djl.ndarray.NDArray f = m.create(flat, new ai.djl.ndarray.types.Shape(rows, vocab));
            ai.djl.ndarray.NDArray flatLogp = f.logSoftmax(1);
            assertThat(Generator.amongCandidates(flatLogp, flatLogp.exp(), m.create(u, new ai.djl.ndarray.types.Shape(rows, 1)), cfg, 256))
                    .as("a nucleus larger than the candidates is not truncated").isNull();
            assertThat(Generator.sampleRows(f, cfg, u).ids()).isEqualTo(Generator.sampleRows(f, cfg, u, vocab).ids());
        }
    }

    @Test
    void javaSamplingReportsTheSameLogProbabilities() {
        float[] row = {0f, (float) Math.log(3), -30f, (float) Math.log(6)}; // p = 0.1, 0.3, ~0, 0.6
        Rng rng = new Rng(8);
        float[] lp = new float[1];
        for (int i = 0; i < 200; i++) {
            int id = Generator.sample(row, 0, 4, new SamplingConfig(1f, 1f, 1, 1), rng, lp);
            assertThat((double) lp[0]).isCloseTo(Math.log(new double[] {0.1, 0.3, 1e-14, 0.6}[id]), within(1e-5));
            id = Generator.sample(row, 0, 4, new SamplingConfig(1f, 0.8f, 1, 1), rng, lp);
            assertThat((double) lp[0]).isCloseTo(Math.log(id == 3 ? 2.0 / 3 : 1.0 / 3), within(1e-5));
            // Temperature 2 flattens: p ~ sqrt(1, 3, 0, 6) normalised.
            id = Generator.sample(row, 0, 4, new SamplingConfig(2f, 1f, 1, 1), rng, lp);
            double z = 1 + Math.sqrt(3) + Math.exp(-15) + Math.sqrt(6);
            double[] q = {1 / z, Math.sqrt(3) / z, Math.exp(-15) / z, Math.sqrt(6) / z};
            assertThat((double) lp[0]).isCloseTo(Math.log(q[id]), within(1e-5));
        }
    }

    /**
     * A sequence stops at any of the EOS ids, not only the first. Greedy, so the rows are
     * deterministic: a free run (no EOS) tells where each row must end once two of its ids are
     * declared EOS, the second of which ends row 1.
     */
    @Test
    void stopsAtAnyEosIdOfTheList() {
        List<int[]> prompts = List.of(ENCODER.encodePrompt("rev abcd="), ENCODER.encodePrompt("add 12+7="));
        SamplingConfig cfg = SamplingConfig.greedy(12);
        List<Completion> free = new Generator(model, new int[0], TOKENIZER.padId()).generate(manager, prompts, cfg, new Rng(21));
        assertThat(free).allSatisfy(c -> {
            assertThat(c.tokens()).hasSize(12);
            assertThat(c.finished()).isFalse();
        });
        int[] row1 = free.get(1).tokens();
        int second = row1[1];
        int first = TOKENIZER.eosId();
        for (int t : free.get(0).tokens()) {
            if (t != second && t != row1[0]) {
                first = t;
                break;
            }
        }
        int[] eos = {first, second};
        List<Completion> stopped = new Generator(model, eos, TOKENIZER.padId()).generate(manager, prompts, cfg, new Rng(21));
        for (int i = 0; i < free.size(); i++) {
            int[] t = free.get(i).tokens();
            int end = t.length;
            for (int j = 0; j < t.length; j++) {
                if (t[j] == first || t[j] == second) {
                    end = j + 1;
                    break;
                }
            }
            Completion c = stopped.get(i);
            assertThat(c.tokens()).as("row %d", i).isEqualTo(java.util.Arrays.copyOf(t, end));
            assertThat(c.finished()).isEqualTo(end < t.length || t[end - 1] == first || t[end - 1] == second);
            assertThat(c.logProbs()).hasSize(c.tokens().length);
        }
        // Row 1 ended at the second id of the list, with that id as its last token.
        assertThat(stopped.get(1).tokens()).hasSizeLessThanOrEqualTo(2).endsWith(second);
        assertThat(stopped.get(1).finished()).isTrue();
    }

    @Test
    void aPromptFillingTheContextIsRefused() {
        int[] longPrompt = new int[model.config().contextLength()];
        java.util.Arrays.fill(longPrompt, 5);
        assertThatThrownBy(() -> generator.generate(manager, List.of(longPrompt), SamplingConfig.greedy(4), new Rng(1)))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("prompt-too-long"));
    }
}
