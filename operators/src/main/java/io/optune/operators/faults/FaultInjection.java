package io.optune.operators.faults;

import java.util.EnumMap;
import java.util.Map;

/**
 * Named points in the data path where recovery tests make the job fail, the way a crash would, at a
 * chosen moment. Disarmed unless a test arms a point, in which case the check costs one volatile
 * read. JVM-wide, so it reaches operators running in a local mini cluster.
 *
 * <p>Each armed point throws {@link InjectedFault} once, on its {@code n}-th check, then disarms:
 * the restarted job runs on without faults.
 */
public final class FaultInjection {
    private FaultInjection() {}

    /** Where a fault can be injected. */
    public enum Point {
        /** Ingest, on a prompt record. */
        INGEST,
        /** The generator, after sampling a micro-batch and before emitting it. */
        GENERATE,
        /** The scorer, after the reward model answered and before the scores are emitted. */
        SCORE,
        /** The trainer, after an optimizer step changed the weights and before the step is recorded. */
        TRAIN,
        /** The weight log, after a snapshot is written and before its announcement commits it. */
        PUBLISH
    }

    /** The failure a point throws. */
    public static final class InjectedFault extends RuntimeException {
        private static final long serialVersionUID = 1L;

        InjectedFault(Point point) {
            super("injected fault at " + point);
        }
    }

    private static final Map<Point, long[]> ARMED = new EnumMap<>(Point.class); // {remaining, fired, checks}
    private static volatile boolean anyArmed;

    /** Makes {@code point} throw on its {@code n}-th check from now (n >= 1). */
    public static synchronized void arm(Point point, long n) {
        if (n < 1) {
            throw new IllegalArgumentException("n must be >= 1");
        }
        ARMED.put(point, new long[] {n, 0, 0});
        anyArmed = true;
    }

    /** Disarms every point and forgets what fired. */
    public static synchronized void reset() {
        ARMED.clear();
        anyArmed = false;
    }

    /** When {@code point} threw (epoch milliseconds), or 0 when it has not. */
    public static synchronized long firedAt(Point point) {
        long[] s = ARMED.get(point);
        return s == null ? 0 : s[1];
    }

    /**
     * How often {@code point} was checked since it was armed, firing included: when a point did not
     * fire, this says how far short of its count the run fell.
     */
    public static synchronized long checks(Point point) {
        long[] s = ARMED.get(point);
        return s == null ? 0 : s[2];
    }

    /** Whether {@code point} has thrown since it was armed. */
    public static synchronized boolean fired(Point point) {
        long[] s = ARMED.get(point);
        return s != null && s[1] > 0;
    }

    /** Throws {@link InjectedFault} when {@code point} is armed and its count is reached. */
    public static void check(Point point) {
        if (!anyArmed) {
            return;
        }
        synchronized (FaultInjection.class) {
            long[] s = ARMED.get(point);
            if (s == null) {
                return;
            }
            s[2]++;
            if (s[1] == 0 && --s[0] == 0) {
                s[1] = System.currentTimeMillis();
                throw new InjectedFault(point);
            }
        }
    }
}
