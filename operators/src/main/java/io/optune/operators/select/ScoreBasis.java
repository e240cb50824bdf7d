package io.optune.operators.select;

/** What a prompt's stored score is, for ranking it against recent prompts. */
public enum ScoreBasis {
    /** The best raw reward of the prompt's latest generation. */
    RAW,
    /**
     * That reward standardised by the prompt's own reward history,
     * {@code (r_latest - mean_p) / (std_p + 1e-6)}: removes per-prompt offsets of a learned reward
     * model, so that a prompt is not regenerated merely because all its scores are low.
     */
    PROMPT_NORMALISED
}
