package io.optune.engine.loop;

/** Which known prompts get new responses. New prompts are always generated. */
public enum SelectionStrategy {
    /** OPTune: only prompts whose stored reward ranks in the lowest {@code rho} of recent ones. */
    OPTUNE,
    /** Full online DPO: every prompt, every time (rho is ignored, effectively 1). */
    ALL,
    /** Ablation: a random {@code rho} fraction, whatever the reward. */
    RANDOM
}
