package io.optune.engine.train;

/**
 * The preference loss on a pair's margin
 * {@code h = (log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x))}.
 */
public enum LossType {
    /** DPO: {@code -log sigmoid(beta * h)}. */
    SIGMOID,
    /** IPO: {@code (h - 1 / (2 * beta))^2}. */
    IPO
}
