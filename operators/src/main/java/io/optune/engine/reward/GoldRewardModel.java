package io.optune.engine.reward;

import io.optune.engine.InvalidInputException;
import io.optune.engine.task.BuiltinTask;
import io.optune.engine.task.TaskPrompt;

import java.util.List;

/** The built-in task's verifier: the graded gold reward of {@link BuiltinTask#goldReward}. */
public final class GoldRewardModel implements RewardModel {

    @Override
    public double[] score(List<String> prompts, List<String> responses) {
        if (prompts.size() != responses.size()) {
            throw new IllegalArgumentException("prompts and responses differ in count");
        }
        double[] out = new double[prompts.size()];
        for (int i = 0; i < out.length; i++) {
            TaskPrompt task = BuiltinTask.parse(prompts.get(i));
            if (task == null) {
                throw new InvalidInputException("unscorable-prompt",
                        "the gold verifier only knows built-in task prompts, not '" + abbreviate(prompts.get(i)) + "'");
            }
            out[i] = BuiltinTask.goldReward(responses.get(i), task.answer());
        }
        return out;
    }

    @Override
    public String name() {
        return "gold";
    }

    @Override
    public String accepts() {
        return "built-in task prompts only: '<verb> <operand>=' with verb copy, rev or sort (letters a-j) or add "
                + "(two numbers of up to 4 digits), e.g. 'rev abc=' or 'add 12+7='";
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }
}
