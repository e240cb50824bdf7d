package io.optune.engine.train;

/**
 * One training pair as token ids.
 *
 * @param prompt prompt ids starting with BOS
 * @param chosen preferred response ids
 * @param rejected dispreferred response ids
 * @param weight unnormalised pair weight ({@link PairWeighting#raw}); batches rescale to mean 1
 */
public record PreferenceExample(int[] prompt, int[] chosen, int[] rejected, double weight) {}
