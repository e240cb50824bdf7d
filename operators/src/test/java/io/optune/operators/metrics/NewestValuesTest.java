package io.optune.operators.metrics;

import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NewestValuesTest {

    @Test
    void keepsTheNewestValuesOldestFirst() {
        NewestValues<Integer> acc = new NewestValues<>(3);
        for (int i = 1; i <= 5; i++) {
            acc.add(i);
        }
        assertThat(acc.getLocalValue()).containsExactly(3, 4, 5);
        acc.resetLocal();
        assertThat(acc.getLocalValue()).isEmpty();
        assertThatThrownBy(() -> new NewestValues<>(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void mergingKeepsEverySubtasksValuesAndACloneIsIndependent() {
        NewestValues<Integer> a = new NewestValues<>(2);
        NewestValues<Integer> b = new NewestValues<>(2);
        a.add(1);
        a.add(2);
        b.add(3);
        b.add(4);
        NewestValues<Integer> merged = a.clone();
        merged.merge(b);
        assertThat(merged.getLocalValue()).containsExactly(1, 2, 3, 4);
        assertThat(a.getLocalValue()).containsExactly(1, 2);
    }

    @Test
    void survivesJavaSerialization() throws Exception {
        NewestValues<String> acc = new NewestValues<>(2);
        acc.add("1,0.5");
        acc.add("2,0.6");
        acc.add("3,0.7");
        NewestValues<String> back = InstantiationUtil.clone(acc);
        assertThat(back.getLocalValue()).containsExactly("2,0.6", "3,0.7");
        back.add("4,0.8");
        assertThat(back.getLocalValue()).containsExactly("3,0.7", "4,0.8");
    }

    /** The TaskManager serializes accumulators on its heartbeat thread while the task thread adds. */
    @Test
    @Timeout(60)
    void canBeSerializedWhileAnotherThreadAdds() throws Exception {
        NewestValues<Long> acc = new NewestValues<>(4096);
        AtomicBoolean stop = new AtomicBoolean();
        List<Throwable> failures = new ArrayList<>();
        Thread adder = new Thread(() -> {
            long i = 0;
            while (!stop.get()) {
                if (++i % 10_000 == 0) {
                    acc.resetLocal(); // a list of bounded size, as the job's, whichever accumulator it is
                }
                acc.add(i);
            }
        });
        adder.start();
        try {
            while (acc.getLocalValue().isEmpty()) {
                Thread.onSpinWait();
            }
            long end = System.nanoTime() + 2_000_000_000L;
            while (System.nanoTime() < end && failures.isEmpty()) {
                try {
                    InstantiationUtil.serializeObject(acc);
                } catch (Exception e) {
                    failures.add(e);
                }
            }
        } finally {
            stop.set(true);
            adder.join();
        }
        assertThat(failures).isEmpty();
    }
}
