package io.optune.engine.task;

import ai.djl.ndarray.NDManager;
import io.optune.engine.PromptEncoder;
import io.optune.engine.Rng;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.SftTrainer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Trains the deliberately imperfect initial policy: a fresh {@link TransformerLM} fitted to
 * {@link NoisyDemonstrations} of random built-in prompts.
 */
public final class SftWarmStart {
    private static final Logger LOG = LoggerFactory.getLogger(SftWarmStart.class);

    /**
     * @param steps optimizer steps
     * @param batchSize demonstrations per step
     * @param learningRate peak AdamW learning rate (with 5% warm-up)
     * @param seed model init and demonstration stream
     */
    /** @param maxOperand longest string operand of the demonstrated task ({@link BuiltinTask#random(Rng, int)}) */
    public record Config(int steps, int batchSize, float learningRate, long seed, int maxOperand) {
        public Config(int steps, int batchSize, float learningRate, long seed) {
            this(steps, batchSize, learningRate, seed, BuiltinTask.DEFAULT_MAX_OPERAND);
        }

        public static Config defaults(long seed) {
            return new Config(1500, 32, 3e-3f, seed);
        }
    }

    private SftWarmStart() {}

    /** Returns a new policy; the caller owns it. */
    public static TransformerLM train(
            ModelConfig modelConfig, PromptEncoder encoder, NDManager manager, Config config, NoisyDemonstrations demos,
            Consumer<String> progress) {
        TransformerLM model = TransformerLM.create(modelConfig, manager, config.seed(), false);
        Rng rng = Rng.derive(config.seed(), 0x5F7L);
        AdamWConfig opt = AdamWConfig.of(config.learningRate())
                .withWarmup(Math.max(1, config.steps() / 20))
                .withWeightDecay(0.01f);
        long t0 = System.nanoTime();
        try (SftTrainer trainer = new SftTrainer(model, opt)) {
            double ema = Double.NaN;
            for (int step = 1; step <= config.steps(); step++) {
                List<int[]> prompts = new ArrayList<>(config.batchSize());
                List<int[]> responses = new ArrayList<>(config.batchSize());
                for (int i = 0; i < config.batchSize(); i++) {
                    TaskPrompt p = BuiltinTask.random(rng, config.maxOperand());
                    prompts.add(encoder.encodePrompt(p.text()));
                    responses.add(encoder.encodeResponse(demos.demonstrate(p, rng)));
                }
                double loss = trainer.step(prompts, responses);
                if (Double.isFinite(loss)) {
                    ema = Double.isNaN(ema) ? loss : 0.98 * ema + 0.02 * loss;
                }
                if (step % 250 == 0 || step == config.steps()) {
                    String line = String.format("sft step %d/%d loss %.3f (%.1fs)", step, config.steps(), ema,
                            (System.nanoTime() - t0) / 1e9);
                    LOG.debug(line); // the caller's progress consumer prints it
                    if (progress != null) {
                        progress.accept(line);
                    }
                }
            }
        }
        model.setTrainable(false);
        return model;
    }
}
