package io.optune.connectors.weights;

import org.junit.jupiter.api.Test;

import java.util.TreeSet;
import java.util.stream.LongStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VersionRetentionTest {
    private static TreeSet<Long> versions(long from, long to) {
        TreeSet<Long> s = new TreeSet<>();
        LongStream.rangeClosed(from, to).forEach(s::add);
        return s;
    }

    @Test
    void keepsTheNewestAndEveryNth() {
        assertThat(new VersionRetention(3, 0).pruned(versions(0, 6))).containsExactly(0L, 1L, 2L, 3L);
        assertThat(new VersionRetention(3, 2).pruned(versions(0, 6))).containsExactly(1L, 3L);
        assertThat(new VersionRetention(3, 0).pruned(versions(0, 2))).isEmpty();
        assertThat(VersionRetention.KEEP_ALL.pruned(versions(0, 100))).isEmpty();
    }

    @Test
    void keptRollbackPointsDoNotCountAgainstTheNewest() {
        // 0 and 4 are rollback points, kept; the newest three (8, 9, 10) stay; 7 goes.
        TreeSet<Long> announced = new TreeSet<>(java.util.List.of(0L, 4L, 7L, 8L, 9L, 10L));
        assertThat(new VersionRetention(3, 4).pruned(announced)).containsExactly(7L);
    }

    @Test
    void negativeCountsAreRefused() {
        assertThatThrownBy(() -> new VersionRetention(-1, 0)).hasMessageContaining("keepLast -1");
    }
}
