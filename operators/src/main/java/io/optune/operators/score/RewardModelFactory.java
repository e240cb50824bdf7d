package io.optune.operators.score;

import io.optune.engine.reward.RewardModel;

import java.io.Serializable;

/** Creates the reward model inside the score operator (reward models are not serializable). */
@FunctionalInterface
public interface RewardModelFactory extends Serializable {
    RewardModel create() throws Exception;
}
