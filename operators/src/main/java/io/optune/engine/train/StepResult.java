package io.optune.engine.train;

/**
 * What one training step did.
 *
 * @param step optimizer steps taken so far (unchanged when skipped)
 * @param loss weighted batch loss
 * @param margin mean DPO margin h (log-ratio difference, before beta)
 * @param accuracy fraction of pairs with h > 0
 * @param logRatioMean mean of log pi(y|x) - log pi_ref(y|x) over the batch's chosen and rejected responses. Not a
 *     KL divergence: the responses come from the stored pairs (often older policies), not from pi, so it
 *     can be negative; it shows how far the policy has moved from the reference on the trained data
 * @param gradNorm global gradient norm before clipping
 * @param learningRate learning rate used
 * @param skipped true when the loss or gradients were not finite and no update was made
 */
public record StepResult(long step, double loss, double margin, double accuracy, double logRatioMean, double gradNorm, float learningRate, boolean skipped) {}
