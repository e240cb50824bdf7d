package io.optune.engine.task;

import ai.djl.ndarray.NDManager;
import io.optune.engine.PromptEncoder;
import io.optune.engine.Rng;
import io.optune.engine.generate.Completion;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.model.TransformerLM;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** Mean held-out gold reward of a policy under greedy decoding. */
public final class Evaluator {
    private final List<TaskPrompt> heldOut;
    private final PromptEncoder encoder;
    private final int maxNewTokens;
    private final int batchSize;

    public Evaluator(List<TaskPrompt> heldOut, PromptEncoder encoder, int maxNewTokens) {
        this.heldOut = List.copyOf(heldOut);
        this.encoder = encoder;
        this.maxNewTokens = maxNewTokens;
        this.batchSize = 64;
    }

    /** Mean reward overall and per task kind. */
    public record Result(double meanReward, double exactMatch, Map<TaskKind, Double> byKind) {
        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder(String.format("gold=%.3f exact=%.3f", meanReward, exactMatch));
            byKind.forEach((k, v) -> sb.append(String.format(" %s=%.2f", k.verb(), v)));
            return sb.toString();
        }
    }

    public Result evaluate(TransformerLM policy, NDManager manager) {
        Generator gen = new Generator(policy, encoder.tokenizer());
        SamplingConfig greedy = SamplingConfig.greedy(maxNewTokens);
        double total = 0;
        int exact = 0;
        Map<TaskKind, double[]> byKind = new EnumMap<>(TaskKind.class);
        for (int start = 0; start < heldOut.size(); start += batchSize) {
            List<TaskPrompt> chunk = heldOut.subList(start, Math.min(heldOut.size(), start + batchSize));
            List<int[]> prompts = new ArrayList<>();
            for (TaskPrompt p : chunk) {
                prompts.add(encoder.encodePrompt(p.text()));
            }
            List<Completion> out = gen.generate(manager, prompts, greedy, new Rng(0));
            for (int i = 0; i < chunk.size(); i++) {
                String response = encoder.tokenizer().decode(out.get(i).tokens());
                double r = BuiltinTask.goldReward(response, chunk.get(i).answer());
                total += r;
                exact += response.equals(chunk.get(i).answer()) ? 1 : 0;
                double[] acc = byKind.computeIfAbsent(chunk.get(i).kind(), k -> new double[2]);
                acc[0] += r;
                acc[1]++;
            }
        }
        Map<TaskKind, Double> means = new EnumMap<>(TaskKind.class);
        byKind.forEach((k, v) -> means.put(k, v[0] / v[1]));
        return new Result(total / heldOut.size(), (double) exact / heldOut.size(), means);
    }
}
