package io.optune.operators.faults;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.assertThat;

class FaultInjectionTest {
    @AfterEach
    void tearDown() {
        FaultInjection.reset();
    }

    @Test
    void anArmedPointFiresOnceOnItsNthCheckAndOthersStayQuiet() {
        FaultInjection.arm(FaultInjection.Point.TRAIN, 3);
        FaultInjection.check(FaultInjection.Point.TRAIN);
        FaultInjection.check(FaultInjection.Point.SCORE);
        FaultInjection.check(FaultInjection.Point.TRAIN);
        assertThat(FaultInjection.fired(FaultInjection.Point.TRAIN)).isFalse();
        assertThatThrownBy(() -> FaultInjection.check(FaultInjection.Point.TRAIN))
                .isInstanceOf(FaultInjection.InjectedFault.class).hasMessageContaining("TRAIN");
        assertThat(FaultInjection.fired(FaultInjection.Point.TRAIN)).isTrue();
        assertThatCode(() -> FaultInjection.check(FaultInjection.Point.TRAIN)).doesNotThrowAnyException();
        assertThat(FaultInjection.fired(FaultInjection.Point.SCORE)).isFalse();
        // Checks are counted past the fault, and only for armed points.
        assertThat(FaultInjection.checks(FaultInjection.Point.TRAIN)).isEqualTo(4);
        assertThat(FaultInjection.checks(FaultInjection.Point.SCORE)).isZero();
    }

    @Test
    void disarmedPointsNeverFire() {
        for (int i = 0; i < 1000; i++) {
            for (FaultInjection.Point p : FaultInjection.Point.values()) {
                FaultInjection.check(p);
            }
        }
        assertThatThrownBy(() -> FaultInjection.arm(FaultInjection.Point.INGEST, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
