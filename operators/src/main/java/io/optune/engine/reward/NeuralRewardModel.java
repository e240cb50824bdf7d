package io.optune.engine.reward;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.optune.engine.InvalidInputException;
import io.optune.engine.PromptEncoder;
import io.optune.engine.model.Batches;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.train.AdamW;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoLoss;

import java.util.ArrayList;
import java.util.List;

/**
 * A learned (proxy) reward model: the policy's transformer trunk with a scalar head read at the last
 * response token, trained Bradley-Terry on preference pairs:
 * {@code loss = -log sigmoid(r(x, y_w) - r(x, y_l))}. Lets the loop run on a proxy reward while
 * the gold verifier measures true quality.
 */
public final class NeuralRewardModel implements RewardModel, AutoCloseable {
    private final TransformerLM model;
    private final PromptEncoder encoder;
    /** The manager made for a model loaded by {@link #fromSnapshot}, closed with it; null otherwise. */
    private NDManager owned;

    public NeuralRewardModel(ModelConfig config, PromptEncoder encoder, NDManager manager, long seed) {
        this(TransformerLM.create(config, manager, seed, true), encoder);
    }

    /** Wraps a model that has a scalar head (for example one loaded from a snapshot). */
    public NeuralRewardModel(TransformerLM model, PromptEncoder encoder) {
        if (!model.hasScalarHead()) {
            throw new IllegalArgumentException("a reward model needs a scalar head");
        }
        this.model = model;
        this.encoder = encoder;
    }

    /**
     * Loads a trained reward model from a checkpoint directory (a transformer with a scalar head and
     * its tokenizer files, as {@code PolicyDirectory.write(model(), tokenizer, ...)} writes it after
     * {@link Trainer} steps: a {@code GPT2ForSequenceClassification} checkpoint); prompts longer than
     * {@code maxPromptTokens} score NaN. It runs on {@code device} ({@code cpu}, {@code gpu},
     * {@code gpu:N}).
     */
    public static NeuralRewardModel fromDirectory(java.nio.file.Path dir, int maxPromptTokens, String device) throws java.io.IOException {
        NDManager manager = NDManager.newBaseManager(io.optune.engine.EngineDevice.parse(device));
        try {
            io.optune.engine.checkpoint.PolicyDirectory.Loaded loaded = io.optune.engine.checkpoint.PolicyDirectory.load(dir, manager);
            if (!loaded.model().hasScalarHead()) {
                loaded.model().close();
                throw new IllegalArgumentException("the checkpoint " + dir + " holds a policy (a language-model head), not a "
                        + "reward model with a scalar head");
            }
            NeuralRewardModel m = new NeuralRewardModel(loaded.model(), new PromptEncoder(loaded.tokenizer(), maxPromptTokens));
            m.owned = manager;
            return m;
        } catch (RuntimeException | java.io.IOException e) {
            manager.close();
            throw e;
        }
    }

    public TransformerLM model() {
        return model;
    }

    @Override
    public String accepts() {
        return "prompts and responses its tokenizer can encode, together within " + model.config().contextLength()
                + " tokens (others score NaN)";
    }

    @Override
    public String name() {
        return "neural";
    }

    /**
     * Scores; a pair that cannot be encoded (unknown characters, too long) scores NaN, and so does a
     * chat prompt (this model has no chat template).
     */
    @Override
    public double[] score(List<RewardQuery> queries) {
        io.optune.engine.GradMode.off();
        double[] out = new double[queries.size()];
        List<int[]> p = new ArrayList<>();
        List<int[]> r = new ArrayList<>();
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < out.length; i++) {
            RewardQuery q = queries.get(i);
            if (q.isChat()) {
                out[i] = Double.NaN;
                continue;
            }
            try {
                int[] pi = encoder.encodePrompt(q.prompt());
                int[] ri = encoder.encodeResponse(q.response());
                if (pi.length + ri.length > model.config().contextLength()) {
                    out[i] = Double.NaN;
                    continue;
                }
                p.add(pi);
                r.add(ri);
                rows.add(i);
            } catch (InvalidInputException e) {
                out[i] = Double.NaN;
            }
        }
        if (!rows.isEmpty()) {
            try (NDManager m = model.manager().newSubManager()) {
                float[] s = rewards(m, p, r).toFloatArray();
                for (int j = 0; j < rows.size(); j++) {
                    out[rows.get(j)] = s[j];
                }
            }
        }
        return out;
    }

    /** Rewards as an array (B), differentiable when the model is trainable. */
    NDArray rewards(NDManager m, List<int[]> prompts, List<int[]> responses) {
        Batches.Scoring s = Batches.scoring(m, prompts, responses, model.config().contextLength());
        NDArray perPosition = model.scalarHead(model.hidden(s.inputs(), s.positions(), s.bias(), null));
        return perPosition.gather(s.lastIndex().expandDims(1), 1).squeeze(1);
    }

    /** Fraction of pairs in which the chosen response scores higher. */
    public double pairwiseAccuracy(List<String> prompts, List<String> chosen, List<String> rejected) {
        double[] c = score(RewardQuery.texts(prompts, chosen));
        double[] r = score(RewardQuery.texts(prompts, rejected));
        int ok = 0;
        for (int i = 0; i < c.length; i++) {
            ok += c[i] > r[i] ? 1 : 0;
        }
        return (double) ok / c.length;
    }

    /** Bradley-Terry training. */
    public final class Trainer implements AutoCloseable {
        private final AdamW optimizer;

        Trainer(AdamWConfig config) {
            model.setTrainable(true);
            this.optimizer = new AdamW(model, config);
        }

        /** One step on a batch of text pairs; returns the mean loss (NaN when skipped). */
        public double step(List<String> prompts, List<String> chosen, List<String> rejected) {
            List<int[]> p = new ArrayList<>();
            List<int[]> r = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                p.add(encoder.encodePrompt(prompts.get(i)));
                r.add(encoder.encodeResponse(chosen.get(i)));
            }
            for (int i = 0; i < prompts.size(); i++) {
                p.add(encoder.encodePrompt(prompts.get(i)));
                r.add(encoder.encodeResponse(rejected.get(i)));
            }
            int b = prompts.size();
            try (NDManager m = model.manager().newSubManager()) {
                AdamW.Step step = optimizer.minimize(() -> {
                    NDArray rewards = rewards(m, p, r);
                    return DpoLoss.negLogSigmoid(rewards.get("0:{}", b).sub(rewards.get("{}:", b))).mean();
                });
                return step.skipped() ? Double.NaN : step.loss();
            }
        }

        @Override
        public void close() {
            optimizer.close();
            model.setTrainable(false);
        }
    }

    public Trainer trainer(AdamWConfig config) {
        return new Trainer(config);
    }

    @Override
    public void close() {
        model.close();
        if (owned != null) {
            owned.close();
        }
    }
}
