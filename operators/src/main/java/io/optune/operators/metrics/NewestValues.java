package io.optune.operators.metrics;

import org.apache.flink.api.common.accumulators.Accumulator;

import java.io.IOException;
import java.io.ObjectOutputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;

/**
 * A list accumulator that keeps the newest {@code capacity} values added, for a job that runs for weeks:
 * Flink's {@code ListAccumulator} either grows without bound (every value travels to the JobManager with
 * every heartbeat) or, capped by its caller, stops taking values once full (the embedded runner's held-out
 * curve stopped after 4,096 versions in a 60-minute soak). Its result is an {@link ArrayList}, as a
 * {@code ListAccumulator}'s, oldest first; merging (the JobManager's, across subtasks) keeps every value.
 *
 * <p>Safe against Flink reading it on another thread: the TaskManager serializes accumulators on its
 * heartbeat thread while the task thread adds, and an {@code ArrayList} then fails with a
 * {@code ConcurrentModificationException} (that heartbeat's accumulators are lost; seen in the soak).
 * Every access here, serialization included, holds the accumulator's lock.
 */
public final class NewestValues<T> implements Accumulator<T, ArrayList<T>> {
    private static final long serialVersionUID = 1L;

    private final int capacity;
    private final ArrayDeque<T> values = new ArrayDeque<>();

    public NewestValues(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        this.capacity = capacity;
    }

    @Override
    public synchronized void add(T value) {
        if (values.size() >= capacity) {
            values.pollFirst();
        }
        values.addLast(value);
    }

    @Override
    public synchronized ArrayList<T> getLocalValue() {
        return new ArrayList<>(values);
    }

    @Override
    public synchronized void resetLocal() {
        values.clear();
    }

    @Override
    public synchronized void merge(Accumulator<T, ArrayList<T>> other) {
        values.addAll(other.getLocalValue());
    }

    @Override
    public synchronized NewestValues<T> clone() {
        NewestValues<T> copy = new NewestValues<>(capacity);
        copy.values.addAll(values);
        return copy;
    }

    private synchronized void writeObject(ObjectOutputStream out) throws IOException {
        out.defaultWriteObject();
    }

    @Override
    public synchronized String toString() {
        return "NewestValues " + values.size() + " of at most " + capacity;
    }
}
