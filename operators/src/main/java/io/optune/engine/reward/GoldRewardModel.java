package io.optune.engine.reward;

import io.optune.engine.InvalidInputException;
import io.optune.engine.task.BuiltinTask;
import io.optune.engine.task.TaskPrompt;

import java.util.List;

/** The built-in task's verifier: the graded gold reward of {@link BuiltinTask#goldReward}. */
public final class GoldRewardModel implements RewardModel {

    @Override
    public double[] score(List<RewardQuery> queries) {
        double[] out = new double[queries.size()];
        for (int i = 0; i < out.length; i++) {
            RewardQuery q = queries.get(i);
            if (q.isChat()) {
                throw new InvalidInputException("unscorable-prompt",
                        "the gold verifier only knows built-in task prompts, not chat messages");
            }
            TaskPrompt task = BuiltinTask.parse(q.prompt());
            if (task == null) {
                throw new InvalidInputException("unscorable-prompt",
                        "the gold verifier only knows built-in task prompts, not '" + abbreviate(q.prompt()) + "'");
            }
            out[i] = BuiltinTask.goldReward(q.response(), task.answer());
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
