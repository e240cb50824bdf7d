package io.optune.operators.records;

/**
 * A published policy version.
 *
 * @param version unique, increasing version number
 * @param step trainer step that produced it
 * @param location where the snapshot is (a Flink FileSystem URI)
 * @param sha256 SHA-256 of the snapshot file
 * @param publishedAt epoch milliseconds of publication
 * @param loss mean DPO loss since the previous version
 * @param margin mean DPO margin since the previous version
 * @param logRatioMean mean log pi - log pi_ref over the responses trained since the previous version (not a KL
 *     divergence: see {@link io.optune.engine.train.StepResult#logRatioMean()}); read as "kl" from older weight logs
 * @param reward mean chosen reward of the pairs trained since the previous version
 * @param freshFraction fraction of those pairs built from new responses
 * @param heldOutReward held-out gold reward of this version (NaN when not evaluated)
 */
public record PolicyUpdate(
        long version,
        long step,
        String location,
        String sha256,
        long publishedAt,
        double loss,
        double margin,
        @com.fasterxml.jackson.annotation.JsonAlias("kl") double logRatioMean,
        double reward,
        double freshFraction,
        double heldOutReward) {}
