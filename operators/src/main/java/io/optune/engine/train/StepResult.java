package io.optune.engine.train;

/**
 * What one training step did.
 *
 * @param step optimizer steps taken so far (unchanged when skipped)
 * @param loss weighted batch loss
 * @param margin mean DPO margin h (log-ratio difference, before beta)
 * @param accuracy fraction of pairs with h > 0
 * @param klEstimate mean of log pi - log ref over the batch's responses (a sample KL estimate)
 * @param gradNorm global gradient norm before clipping
 * @param learningRate learning rate used
 * @param skipped true when the loss or gradients were not finite and no update was made
 */
public record StepResult(long step, double loss, double margin, double accuracy, double klEstimate, double gradNorm, float learningRate, boolean skipped) {}
