package io.optune.engine;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class RngTest {
    @Test
    void stateRestoresTheSameSequence() {
        Rng a = new Rng(42);
        a.nextLong();
        Rng b = new Rng(0);
        b.setState(a.state());
        for (int i = 0; i < 100; i++) {
            assertThat(b.nextLong()).isEqualTo(a.nextLong());
        }
    }

    @Test
    void doublesAreInUnitIntervalAndIntsInBound() {
        Rng r = new Rng(1);
        double sum = 0;
        for (int i = 0; i < 10_000; i++) {
            double d = r.nextDouble();
            assertThat(d).isGreaterThanOrEqualTo(0).isLessThan(1);
            sum += d;
            assertThat(r.nextInt(7)).isBetween(0, 6);
        }
        assertThat(sum / 10_000).isBetween(0.48, 0.52);
    }
}
