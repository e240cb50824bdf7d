package io.optune.engine.train;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class LossScalerTest {
    @Test
    void overflowHalvesAndARunOfCleanStepsDoubles() {
        LossScaler s = LossScaler.dynamic(1024f);
        assertThat(s.backOff()).isTrue();
        assertThat(s.scale()).isEqualTo(512f);
        for (int i = 0; i < LossScaler.GROWTH_INTERVAL - 1; i++) {
            s.recordCleanStep();
        }
        assertThat(s.scale()).as("not yet").isEqualTo(512f);
        s.recordCleanStep();
        assertThat(s.scale()).isEqualTo(1024f);
        assertThat(s.overflows()).isEqualTo(1);
    }

    @Test
    void anOverflowRestartsTheRunTowardsGrowth() {
        LossScaler s = LossScaler.dynamic(1024f);
        for (int i = 0; i < LossScaler.GROWTH_INTERVAL - 1; i++) {
            s.recordCleanStep();
        }
        s.backOff();
        s.recordCleanStep();
        assertThat(s.scale()).isEqualTo(512f);
    }

    @Test
    void atTheMinimumThereIsNothingToBackOffTo() {
        LossScaler s = LossScaler.dynamic(2f);
        assertThat(s.backOff()).isTrue();
        assertThat(s.backOff()).as("non-finite at scale 1: not an overflow of the scale").isFalse();
        assertThat(s.scale()).isEqualTo(1f);
    }

    @Test
    void disabledStaysAtOne() {
        LossScaler s = LossScaler.disabled();
        assertThat(s.backOff()).isFalse();
        for (int i = 0; i < LossScaler.GROWTH_INTERVAL * 2; i++) {
            s.recordCleanStep();
        }
        assertThat(s.scale()).isEqualTo(1f);
    }
}
