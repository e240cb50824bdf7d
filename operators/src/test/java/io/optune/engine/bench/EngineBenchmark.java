package io.optune.engine.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.optune.engine.GradMode;
import io.optune.engine.Rng;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.model.Batches;
import io.optune.engine.model.LogProbs;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.LossType;
import io.optune.engine.train.PreferenceExample;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * JMH benchmarks of the DJL engine on the shapes the loop uses (the tiny GPT-2: width 128, 2
 * layers, 4 heads, context 64, char vocabulary): 16 prompts of 10 tokens, K = 4 samples of 12 new
 * tokens each (768 tokens per call), a 16-pair DPO step, snapshot save and load.
 * {@code bin/pytorch_peer.py} runs the same shapes in PyTorch eager for the peer comparison.
 *
 * <p>Run with {@code bin/optune-bench-engine} (not part of the unit tests).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Dai.djl.offline=true", "-Dai.djl.pytorch.num_threads=2"}) // as the PyTorch peer
public class EngineBenchmark {
    public static final int PROMPTS = 16;
    public static final int PROMPT_TOKENS = 10;
    public static final int SAMPLES = 4;
    public static final int NEW_TOKENS = 12;
    public static final int PAIRS = 16;

    private NDManager manager;
    private TransformerLM model;
    private Generator generator;
    private List<int[]> prompts;
    private List<int[]> rows;
    private List<int[]> responses;
    private DpoTrainer trainer;
    private List<PreferenceExample> pairs;
    /** A published version's directory (Hugging Face checkpoint with tokenizer files). */
    private java.nio.file.Path snapshot;
    private CharTokenizer tokenizer;
    private Rng rng;

    @Setup(Level.Trial)
    public void setUp() {
        manager = NDManager.newBaseManager();
        tokenizer = new CharTokenizer();
        ModelConfig config = ModelConfig.tiny(tokenizer.vocabSize());
        model = TransformerLM.create(config, manager, 1, false);
        // EOS -1: no row stops early, so every call samples exactly the same number of tokens.
        generator = new Generator(model, new int[0], tokenizer.padId());
        rng = new Rng(1);
        Rng data = new Rng(2);
        prompts = new ArrayList<>();
        rows = new ArrayList<>();
        responses = new ArrayList<>();
        for (int i = 0; i < PROMPTS; i++) {
            prompts.add(randomTokens(data, PROMPT_TOKENS, config.vocabSize()));
        }
        for (int i = 0; i < PROMPTS * SAMPLES; i++) {
            rows.add(prompts.get(i / SAMPLES));
            responses.add(randomTokens(data, NEW_TOKENS, config.vocabSize()));
        }
        pairs = new ArrayList<>();
        for (int i = 0; i < PAIRS; i++) {
            pairs.add(new PreferenceExample(prompts.get(i % PROMPTS), randomTokens(data, NEW_TOKENS, config.vocabSize()),
                    randomTokens(data, NEW_TOKENS, config.vocabSize()), 1.0));
        }
        trainer = new DpoTrainer(model.copy(manager), new DpoConfig(LossType.SIGMOID, 0.1f, 1.0f, AdamWConfig.of(1e-4f)));
        try {
            snapshot = java.nio.file.Files.createTempDirectory("optune-bench-version");
            snapshotSave();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static int[] randomTokens(Rng rng, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + rng.nextInt(vocab - 3); // no specials
        }
        return t;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        manager.close();
    }

    /** 64 rows x 12 tokens with the KV cache (the generator the loop uses). */
    @Benchmark
    public int sampleKvCached() {
        return generator.generate(manager, prompts, new SamplingConfig(1f, 1f, NEW_TOKENS, SAMPLES), rng).size();
    }

    /** The same sampling without a cache: the whole sequence is recomputed for every new token. */
    @Benchmark
    public int sampleNaive() {
        GradMode.off();
        int vocab = model.config().vocabSize();
        List<int[]> seqs = new ArrayList<>(rows);
        try (NDManager m = manager.newSubManager()) {
            for (int step = 0; step < NEW_TOKENS; step++) {
                try (NDManager s = m.newSubManager()) {
                    Batches.Prefill pre = Batches.prefill(s, seqs);
                    NDArray h = model.hidden(pre.tokens(), pre.positions(), pre.bias(), null);
                    float[] logits = model.logits(h.get(":, -1, :")).toFloatArray();
                    List<int[]> next = new ArrayList<>(seqs.size());
                    for (int r = 0; r < seqs.size(); r++) {
                        int tok = gumbelMax(logits, r * vocab, vocab);
                        int[] q = java.util.Arrays.copyOf(seqs.get(r), seqs.get(r).length + 1);
                        q[q.length - 1] = tok;
                        next.add(q);
                    }
                    seqs = next;
                }
            }
        }
        return seqs.size();
    }

    private int gumbelMax(float[] logits, int off, int vocab) {
        int best = 0;
        double bestV = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
            double g = logits[off + v] - Math.log(-Math.log(Math.max(1e-12, rng.nextDouble())));
            if (g > bestV) {
                bestV = g;
                best = v;
            }
        }
        return best;
    }

    /** log pi(response | prompt) of 64 sequences of 10 + 12 tokens, no graph. */
    @Benchmark
    public float[] sequenceLogProbs() {
        return LogProbs.sequenceLogProbsNoGrad(model, manager, rows, responses);
    }

    /** One weighted-DPO step on 16 pairs: policy and reference forward, backward, AdamW. */
    @Benchmark
    public double dpoStep() {
        return trainer.step(pairs).loss();
    }

    /** Writes the policy as a published version directory (float32). */
    @Benchmark
    public java.nio.file.Path snapshotSave() throws java.io.IOException {
        io.optune.engine.checkpoint.PolicyDirectory.write(model, tokenizer,
                io.optune.engine.checkpoint.PolicyDirectory.TokenizerFiles.of(tokenizer),
                io.optune.engine.checkpoint.SafeTensorsStream.Dtype.F32, new io.optune.engine.checkpoint.LocalCheckpointFiles(snapshot));
        return snapshot;
    }

    /** Loads a version directory as the generators do (after its files were checked). */
    @Benchmark
    public long snapshotLoad() throws java.io.IOException {
        io.optune.engine.checkpoint.PolicyDirectory.Loaded loaded = io.optune.engine.checkpoint.PolicyDirectory.load(snapshot, manager);
        long n = loaded.model().parameterCount();
        loaded.model().close();
        return n;
    }
}
