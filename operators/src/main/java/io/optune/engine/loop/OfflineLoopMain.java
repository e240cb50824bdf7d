package io.optune.engine.loop;

import ai.djl.ndarray.NDManager;
import io.optune.engine.PromptEncoder;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.reward.GoldRewardModel;
import io.optune.engine.task.BuiltinTask;
import io.optune.engine.task.Evaluator;
import io.optune.engine.task.NoisyDemonstrations;
import io.optune.engine.task.SftWarmStart;
import io.optune.engine.tokenizer.CharTokenizer;

/**
 * Runs the offline online-DPO loop on the built-in task and prints the reward curve.
 *
 * <p>Arguments are {@code --field=value} overrides of {@link LoopConfig} fields, for example
 * {@code --strategy=all --rho=1 --weighting=none --timeBudget=3m}.
 */
public final class OfflineLoopMain {
    private OfflineLoopMain() {}

    public static void main(String[] args) {
        LoopConfig config = LoopConfig.defaults();
        for (String a : String.join(" ", args).trim().split("\\s+")) {
            if (a.isEmpty()) {
                continue;
            }
            if (!a.startsWith("--") || !a.contains("=")) {
                throw new IllegalArgumentException("arguments are --field=value, got '" + a + "'");
            }
            config = config.with(a.substring(2, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
        }
        LoopReport report = run(config);
        System.out.println();
        System.out.println("Reward curve (seconds into DPO, round, generated tokens, held-out gold reward):");
        int every = Math.max(1, report.curve().size() / 30); // about 30 lines
        for (int i = 0; i < report.curve().size(); i++) {
            LoopReport.Point p = report.curve().get(i);
            if (i % every != 0 && i != report.curve().size() - 1) {
                continue;
            }
            System.out.printf("  %7.1f  %5d  %9d  %.3f%n", p.seconds(), p.round(), p.generatedTokens(), p.reward());
        }
        System.out.printf("SFT start %.3f -> end %.3f (%+.3f) | SFT %.0fs, DPO %.0fs | %d rounds, %d steps (%.1f ms/step, %d skipped) "
                        + "| regenerated %.0f%% of %d prompts | sampling %.0f tokens/s%n",
                report.sftReward(), report.finalReward(), report.finalReward() - report.sftReward(), report.sftSeconds(),
                report.dpoSeconds(), report.rounds(), report.steps(), report.msPerStep(), report.skippedSteps(),
                100 * report.regeneratedFraction(), report.promptsSeen(), report.samplingTokensPerSecond());
    }

    /** SFT warm start, then the loop; progress goes to standard output. */
    public static LoopReport run(LoopConfig config) {
        CharTokenizer tokenizer = new CharTokenizer();
        PromptEncoder encoder = new PromptEncoder(tokenizer, 24);
        ModelConfig model = ModelConfig.tiny(tokenizer.vocabSize());
        try (NDManager manager = NDManager.newBaseManager()) {
            System.out.printf("optune offline loop: %s%n", config);
            long t0 = System.nanoTime();
            TransformerLM policy = SftWarmStart.train(model, encoder, manager,
                    new SftWarmStart.Config(config.sftSteps(), 32, 3e-3f, config.seed()), new NoisyDemonstrations(),
                    System.out::println);
            double sftSeconds = (System.nanoTime() - t0) / 1e9;
            Evaluator evaluator = new Evaluator(BuiltinTask.heldOut(config.heldOutSize(), config.seed()), encoder,
                    config.maxNewTokens());
            return new OfflineOptuneLoop(config, encoder, new GoldRewardModel(), evaluator, System.out::println)
                    .run(policy, manager, sftSeconds);
        }
    }
}
