package io.optune.engine;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Turns on a device for colocated execution ({@code optune.engine.colocate}): the generators and the
 * trainer of one process (one TaskManager) hold a turn on their device while they sample or take a
 * DPO step, so they run one after the other instead of side by side. That is the paper's single-GPU
 * setting, where a round costs generation plus training and every generation saved is time saved.
 *
 * <p>One fair lock per device, process-wide: turns are granted in the order they were asked for, so
 * neither side starves while the other has work. Work on different devices ({@code gpu:0} and
 * {@code gpu:1}) never waits. A turn is not re-entrant across devices; each caller holds at most one.
 */
public final class DeviceTurns {
    private static final Map<String, ReentrantLock> LOCKS = new ConcurrentHashMap<>();

    private DeviceTurns() {}

    /** A held turn; closing it hands the device to the next waiter. */
    public interface Turn extends AutoCloseable {
        /** Milliseconds spent waiting for the turn. */
        long waitedMs();

        @Override
        void close();
    }

    /** A turn that holds nothing: the non-colocated case, so callers keep one code path. */
    public static final Turn NONE = new Turn() {
        @Override
        public long waitedMs() {
            return 0;
        }

        @Override
        public void close() {}
    };

    /**
     * Waits for the turn on {@code device} (a spec as {@link EngineDevice#checkSpec} normalises it);
     * returns {@link #NONE} when {@code colocated} is false.
     */
    public static Turn take(String device, boolean colocated) throws InterruptedException {
        if (!colocated) {
            return NONE;
        }
        ReentrantLock lock = lock(device);
        long start = System.nanoTime();
        lock.lockInterruptibly();
        return new Held(lock, (System.nanoTime() - start) / 1_000_000);
    }

    /**
     * The turn on {@code device} if nobody holds it at this moment, else null (without waiting, and
     * ahead of any waiters: for work that would rather grow than wait, see the generator).
     */
    public static Turn tryTake(String device) {
        ReentrantLock lock = lock(device);
        return lock.tryLock() ? new Held(lock, 0) : null;
    }

    private static ReentrantLock lock(String device) {
        return LOCKS.computeIfAbsent(EngineDevice.checkSpec(device), d -> new ReentrantLock(true));
    }

    /** A turn held on one device's lock. */
    private static final class Held implements Turn {
        private final ReentrantLock lock;
        private final long waitedMs;
        private boolean released;

        Held(ReentrantLock lock, long waitedMs) {
            this.lock = lock;
            this.waitedMs = waitedMs;
        }

        @Override
        public long waitedMs() {
            return waitedMs;
        }

        @Override
        public void close() {
            if (!released) {
                released = true;
                lock.unlock();
            }
        }
    }

    /** Callers waiting for a turn on {@code device} now (for metrics and tests). */
    public static int waiting(String device) {
        ReentrantLock lock = LOCKS.get(EngineDevice.checkSpec(device));
        return lock == null ? 0 : lock.getQueueLength();
    }
}
