package io.optune.connectors.weights;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.NavigableSet;

/**
 * Which published versions a weight log keeps: the newest {@code keepLast}, plus every version whose
 * number is a multiple of {@code keepEvery} (long-lived rollback points; 0: none). {@code keepLast}
 * 0 keeps everything. A kept version keeps its files, signature and announcement; a pruned one keeps
 * only a line in the log's history.
 */
public record VersionRetention(int keepLast, int keepEvery) implements Serializable {
    public static final VersionRetention KEEP_ALL = new VersionRetention(0, 0);

    public VersionRetention {
        if (keepLast < 0 || keepEvery < 0) {
            throw new IllegalArgumentException("retention counts must be >= 0, got keepLast " + keepLast + ", keepEvery " + keepEvery);
        }
    }

    public boolean keepsAll() {
        return keepLast == 0;
    }

    /** The versions of {@code announced} (ascending) that this policy prunes, oldest first. */
    public List<Long> pruned(NavigableSet<Long> announced) {
        List<Long> out = new ArrayList<>();
        if (keepsAll() || announced.size() <= keepLast) {
            return out;
        }
        int beyond = announced.size() - keepLast;
        for (long v : announced) {
            if (beyond-- <= 0) {
                break;
            }
            if (keepEvery == 0 || v % keepEvery != 0) {
                out.add(v);
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return keepsAll() ? "every version" : "the newest " + keepLast + (keepEvery > 0 ? " and every " + keepEvery + "th" : "");
    }
}
