package io.optune.engine.loop;

import io.optune.engine.train.LossType;
import io.optune.engine.train.PairWeighting;

import java.time.Duration;

/**
 * Settings of the offline online-DPO loop ({@link OfflineOptuneLoop}); the Flink job's options map
 * onto the same fields.
 *
 * @param strategy selection strategy (OPTUNE, ALL, RANDOM)
 * @param rho fraction of known prompts regenerated (OPTUNE, RANDOM)
 * @param weighting pair weighting (NONE, EXP, LINEAR)
 * @param beta2 weighting scale
 * @param loss SIGMOID (DPO) or IPO
 * @param beta DPO beta
 * @param nllWeight alpha of the chosen-response NLL term
 * @param learningRate AdamW peak learning rate
 * @param promptsPerRound prompts drawn from the feed per round
 * @param samplesPerPrompt K responses per regenerated prompt
 * @param temperature sampling temperature
 * @param maxNewTokens response length limit
 * @param batchSize pairs per DPO step
 * @param minGap smallest reward gap that makes a pair
 * @param rounds round limit (0 = no limit, the time budget decides)
 * @param timeBudget wall-clock limit of the DPO phase
 * @param evalEvery rounds between held-out evaluations
 * @param poolSize prompts in the recurring feed pool
 * @param newPromptRate probability that a feed prompt is new
 * @param sftSteps steps of the SFT warm start
 * @param heldOutSize prompts in the held-out set
 * @param seed seed of everything
 */
public record LoopConfig(
        SelectionStrategy strategy,
        double rho,
        PairWeighting weighting,
        double beta2,
        LossType loss,
        float beta,
        float nllWeight,
        float learningRate,
        int promptsPerRound,
        int samplesPerPrompt,
        float temperature,
        int maxNewTokens,
        int batchSize,
        double minGap,
        int rounds,
        Duration timeBudget,
        int evalEvery,
        int poolSize,
        double newPromptRate,
        int sftSteps,
        int heldOutSize,
        long seed) {

    public static LoopConfig defaults() {
        return new LoopConfig(SelectionStrategy.OPTUNE, 0.5, PairWeighting.EXP, 2.0, LossType.SIGMOID, 0.1f, 1.0f, 1e-4f,
                64, 4, 1.0f, 12, 16, 0.01, 0, Duration.ofMinutes(5), 50, 512, 0.05, 1500, 256, 1L);
    }

    /** Full online DPO: every prompt regenerated, unweighted. */
    public LoopConfig fullOnlineDpo() {
        return with("strategy", "ALL").with("rho", "1").with("weighting", "NONE");
    }

    /** A copy with one field changed, by its record name; values parse as the field's type. */
    public LoopConfig with(String field, String value) {
        Object[] v = {strategy, rho, weighting, beta2, loss, beta, nllWeight, learningRate, promptsPerRound, samplesPerPrompt,
            temperature, maxNewTokens, batchSize, minGap, rounds, timeBudget, evalEvery, poolSize, newPromptRate,
            sftSteps, heldOutSize, seed};
        var components = LoopConfig.class.getRecordComponents();
        for (int i = 0; i < components.length; i++) {
            if (components[i].getName().equals(field)) {
                v[i] = parse(components[i].getType(), value, field);
                try {
                    return (LoopConfig) LoopConfig.class.getDeclaredConstructors()[0].newInstance(v);
                } catch (ReflectiveOperationException e) {
                    throw new IllegalArgumentException("cannot set " + field + "=" + value, e.getCause() != null ? e.getCause() : e);
                }
            }
        }
        throw new IllegalArgumentException("unknown loop option '" + field + "'");
    }

    private static Object parse(Class<?> type, String value, String field) {
        try {
            if (type == double.class) {
                return Double.parseDouble(value);
            } else if (type == float.class) {
                return Float.parseFloat(value);
            } else if (type == int.class) {
                return Integer.parseInt(value);
            } else if (type == long.class) {
                return Long.parseLong(value);
            } else if (type == Duration.class) {
                return Duration.parse(value.startsWith("P") ? value : "PT" + value.toUpperCase());
            } else if (type.isEnum()) {
                for (Object c : type.getEnumConstants()) {
                    if (((Enum<?>) c).name().equalsIgnoreCase(value)) {
                        return c;
                    }
                }
            }
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("invalid value '" + value + "' for " + field + ": " + e.getMessage(), e);
        }
        throw new IllegalArgumentException("invalid value '" + value + "' for " + field);
    }

    public LoopConfig {
        if (!(rho >= 0 && rho <= 1) || promptsPerRound < 1 || samplesPerPrompt < 2 || batchSize < 1
                || maxNewTokens < 1 || evalEvery < 1 || rounds < 0 || timeBudget.isNegative()) {
            throw new IllegalArgumentException("invalid loop config: " + this
                    + " (rho in [0,1], samplesPerPrompt >= 2, positive sizes)");
        }
    }
}
