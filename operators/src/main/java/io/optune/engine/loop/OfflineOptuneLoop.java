package io.optune.engine.loop;

import ai.djl.ndarray.NDManager;
import io.optune.engine.InvalidInputException;
import io.optune.engine.PromptEncoder;
import io.optune.engine.Rng;
import io.optune.engine.generate.Completion;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.reward.RewardModel;
import io.optune.engine.task.Evaluator;
import io.optune.engine.task.PromptFeed;
import io.optune.engine.task.TaskPrompt;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.PreferenceExample;
import io.optune.engine.train.StepResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Online DPO with OPTune's selection and weighting, as a plain Java loop: the reference the Flink
 * topology must match. Each round: draw prompts from the feed; <b>select</b> those to regenerate
 * ({@link StreamSelector}, as the select step; nothing is in flight between rounds); <b>generate</b> K responses for them; <b>score</b> them; <b>pair</b> them
 * with their memory ({@link PairBuilder}), while the others reuse their stored pair; <b>train</b>
 * weighted DPO on all pairs; evaluate every few rounds.
 */
public final class OfflineOptuneLoop {
    private static final Logger LOG = LoggerFactory.getLogger(OfflineOptuneLoop.class);

    private final LoopConfig config;
    private final PromptEncoder encoder;
    private final RewardModel rewardModel;
    private final Evaluator evaluator;
    private final Consumer<String> progress;

    public OfflineOptuneLoop(LoopConfig config, PromptEncoder encoder, RewardModel rewardModel, Evaluator evaluator,
            Consumer<String> progress) {
        this.config = config;
        this.encoder = encoder;
        this.rewardModel = rewardModel;
        this.evaluator = evaluator;
        this.progress = progress == null ? s -> {} : progress;
    }

    /**
     * Runs the DPO phase on {@code policy} (taken over and closed at the end).
     *
     * @param sftSeconds reported as is (the caller ran the warm start)
     */
    public LoopReport run(TransformerLM policy, NDManager manager, double sftSeconds) {
        // The select step's rule; no reuse caps here (a round trains each stored pair once).
        StreamSelector selector = new StreamSelector(config.strategy(), config.rho(), StreamSelector.Limits.none(), 1024);
        PairBuilder pairs = new PairBuilder(config.minGap(), config.weighting(), config.beta2());
        PromptFeed feed = new PromptFeed(config.seed(), config.poolSize(), config.newPromptRate());
        Rng rng = Rng.derive(config.seed(), 0x100FL);
        Map<String, ResponseMemory> memory = new HashMap<>();
        SamplingConfig sampling = new SamplingConfig(config.temperature(), 1f, config.maxNewTokens(), config.samplesPerPrompt());
        DpoConfig dpo = new DpoConfig(config.loss(), config.beta(), config.nllWeight(),
                AdamWConfig.of(config.learningRate()).withWarmup(10).withMaxGradNorm(1f));

        List<LoopReport.Point> curve = new ArrayList<>();
        long feedIndex = 0;
        long seen = 0;
        long regenerated = 0;
        long reused = 0;
        long invalid = 0;
        long tokens = 0;
        long genNanos = 0;
        long trainNanos = 0;
        long t0 = System.nanoTime();
        double sftReward = evaluator.evaluate(policy, manager).meanReward();
        curve.add(new LoopReport.Point(0, 0, 0, sftReward));
        say(String.format("round 0: held-out gold reward %.3f (SFT start)", sftReward));
        int round = 0;
        try (DpoTrainer trainer = new DpoTrainer(policy, dpo)) {
            Generator generator = new Generator(trainer.policy(), encoder.tokenizer());
            while ((config.rounds() == 0 || round < config.rounds())
                    && System.nanoTime() - t0 < config.timeBudget().toNanos()) {
                round++;
                // select
                List<TaskPrompt> toGenerate = new ArrayList<>();
                List<int[]> encoded = new ArrayList<>();
                List<PairBuilder.Pair> roundPairs = new ArrayList<>();
                List<int[]> pairPrompts = new ArrayList<>(); // the prompt ids each pair was generated from
                for (int i = 0; i < config.promptsPerRound(); i++) {
                    TaskPrompt p = feed.at(feedIndex++);
                    seen++;
                    ResponseMemory m = memory.get(p.id());
                    double stored = m == null ? Double.NaN : m.latestReward();
                    if (selector.decide(p.id(), stored, false, 0, 0, rng).regenerates()) {
                        try {
                            encoded.add(encoder.encodePrompt(p.text()));
                            toGenerate.add(p);
                            regenerated++;
                        } catch (InvalidInputException e) {
                            invalid++;
                            LOG.warn("Prompt {} refused: {}", p.id(), e.getMessage());
                        }
                    } else {
                        reused++;
                        pairs.pairOf(m).ifPresent(pair -> {
                            roundPairs.add(pair);
                            pairPrompts.add(m.prompt());
                        });
                    }
                }
                // generate
                long g0 = System.nanoTime();
                List<Completion> completions = encoded.isEmpty() ? List.of()
                        : generator.generate(manager, encoded, sampling, rng);
                genNanos += System.nanoTime() - g0;
                // score
                List<String> scorePrompts = new ArrayList<>();
                List<String> texts = new ArrayList<>();
                List<Response> responses = new ArrayList<>();
                for (Completion c : completions) {
                    tokens += c.tokens().length;
                    scorePrompts.add(toGenerate.get(c.promptIndex()).text());
                    String text = encoder.tokenizer().decode(c.tokens()); // decoded once, for the reward model
                    texts.add(text);
                    responses.add(new Response(c.tokens(), text));
                }
                double[] rewards = texts.isEmpty() ? new double[0] : rewardModel.score(io.optune.engine.reward.RewardQuery.texts(scorePrompts, texts));
                double rewardSum = 0;
                // pair
                int k = config.samplesPerPrompt();
                for (int pi = 0; pi < toGenerate.size(); pi++) {
                    TaskPrompt p = toGenerate.get(pi);
                    List<PairBuilder.Scored> fresh = new ArrayList<>(k);
                    for (int s = 0; s < k; s++) {
                        int idx = pi * k + s;
                        if (Double.isFinite(rewards[idx])) {
                            fresh.add(new PairBuilder.Scored(responses.get(idx), rewards[idx]));
                            rewardSum += rewards[idx];
                        } else {
                            invalid++;
                            LOG.warn("Non-finite reward {} for prompt {} dropped", rewards[idx], p.id());
                        }
                    }
                    if (fresh.isEmpty()) {
                        continue;
                    }
                    PairBuilder.Outcome o = pairs.merge(memory.get(p.id()), encoded.get(pi), fresh, trainer.step());
                    memory.put(p.id(), o.memory());
                    selector.scoreUpdated(p.id(), o.memory().latestReward());
                    o.pair().ifPresent(pair -> {
                        roundPairs.add(pair);
                        pairPrompts.add(o.memory().prompt());
                    });
                }
                // train
                long s0 = System.nanoTime();
                StepResult last = null;
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < roundPairs.size(); i++) {
                    order.add(i);
                }
                shuffle(order, rng);
                for (int start = 0; start + config.batchSize() <= order.size(); start += config.batchSize()) {
                    List<PreferenceExample> batch = new ArrayList<>(config.batchSize());
                    for (int j = start; j < start + config.batchSize(); j++) {
                        PairBuilder.Pair pair = roundPairs.get(order.get(j));
                        // Exactly the sampled ids: nothing is re-tokenised from text.
                        batch.add(new PreferenceExample(pairPrompts.get(order.get(j)), pair.chosen().ids(), pair.rejected().ids(),
                                pair.weight()));
                    }
                    last = trainer.step(batch);
                }
                trainNanos += System.nanoTime() - s0;
                double elapsed = (System.nanoTime() - t0) / 1e9;
                if (round % config.evalEvery() == 0) {
                    double r = evaluator.evaluate(trainer.policy(), manager).meanReward();
                    curve.add(new LoopReport.Point(elapsed, round, tokens, r));
                    say(String.format(
                            "round %d (%.0fs): held-out gold %.3f | regenerated %.0f%% | sample reward %.3f | pairs %d | step %d loss %.3f acc %.2f log-ratio %.3f",
                            round, elapsed, r, 100.0 * regenerated / seen,
                            completions.isEmpty() ? Double.NaN : rewardSum / completions.size(), roundPairs.size(),
                            trainer.step(), last == null ? Double.NaN : last.loss(),
                            last == null ? Double.NaN : last.accuracy(), last == null ? Double.NaN : last.logRatioMean()));
                }
            }
            double dpoSeconds = (System.nanoTime() - t0) / 1e9;
            double finalReward = evaluator.evaluate(trainer.policy(), manager).meanReward();
            if (curve.get(curve.size() - 1).round() != round) {
                curve.add(new LoopReport.Point(dpoSeconds, round, tokens, finalReward));
            }
            return new LoopReport(sftReward, finalReward, curve, round, trainer.step(), trainer.skippedSteps(), seen,
                    regenerated, reused, invalid, tokens, genNanos == 0 ? 0 : tokens / (genNanos / 1e9),
                    trainer.step() == 0 ? 0 : trainNanos / 1e6 / trainer.step(), sftSeconds, dpoSeconds);
        }
    }

    private void say(String line) {
        LOG.debug(line); // the caller's progress consumer prints it
        progress.accept(line);
    }

    private static void shuffle(List<Integer> list, Rng rng) {
        for (int i = list.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            Integer t = list.get(i);
            list.set(i, list.get(j));
            list.set(j, t);
        }
    }
}
