package io.optune.jobs;

import io.optune.engine.checkpoint.RandomCheckpointMain;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The learned in-job rewards through the whole embedded topology: the job starts from a policy
 * checkpoint (a random GPT-2-format model with the built-in character tokenizer) and scores with a
 * Hugging Face reward checkpoint (CHECKPOINT) or the Bradley-Terry model loaded from a directory
 * (NEURAL), both random models of the same tokenizer: the loop must score, pair, train and publish,
 * and no generation may fail at scoring. (GOLD runs in the other topology tests, HTTP in
 * {@code HttpRewardRecoveryITCase}.)
 */
class InJobRewardsITCase {
    @TempDir
    Path dir;

    private void checkpoint(Path out, boolean reward) throws Exception {
        RandomCheckpointMain.main(new String[] {"--shape", "gpt2-mini", "--out", out.toString(), "--tokenizer", "char",
                "--vocab", "98", "--reward", Boolean.toString(reward), "--seed", reward ? "7" : "3"});
    }

    private EmbeddedMain.Summary run(String name, String... reward) throws Exception {
        Path policy = dir.resolve("policy");
        if (!policy.toFile().exists()) {
            checkpoint(policy, false);
            checkpoint(dir.resolve("reward"), true);
        }
        String[] base = {
            "--optune.policy.checkpoint", policy.toString(),
            "--optune.weights.path", dir.resolve(name + "-weights").toUri().toString(),
            "--optune.embedded.duration", "30s",
            "--optune.train.held-out-size", "0",
            "--optune.train.publish-every", "5",
        };
        String[] all = new String[base.length + reward.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(reward, 0, all, base.length, reward.length);
        return EmbeddedMain.run(EmbeddedRuns.config(dir.resolve(name), all));
    }

    private static void assertLoopRan(EmbeddedMain.Summary s) {
        assertThat(s.trainerSteps()).as("trainer steps").isPositive();
        assertThat(s.versionsEmitted()).as("versions published after version 0").isPositive();
        assertThat(s.promptsRegenerated()).isPositive();
        // Keys are "stage/reason": no generation may have failed at scoring.
        assertThat(s.deadLettersByReason().keySet()).as("dead letters by stage/reason").noneMatch(k -> k.startsWith("score/"));
    }

    @Test
    void aHuggingFaceRewardCheckpointScoresInTheTopology() throws Exception {
        assertLoopRan(run("checkpoint", "--optune.reward.type", "CHECKPOINT",
                "--optune.reward.checkpoint", dir.resolve("reward").toString(), "--optune.reward.batch-size", "8"));
    }

    @Test
    void theNeuralRewardScoresInTheTopology() throws Exception {
        assertLoopRan(run("neural", "--optune.reward.type", "NEURAL",
                "--optune.reward.neural.snapshot", dir.resolve("reward").toString()));
    }
}
