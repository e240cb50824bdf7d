package io.optune.engine.train;

import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.snapshot.SnapshotException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TrainerStateTest {
    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    @Test
    void restoredTrainerContinuesExactlyLikeTheOriginal() {
        DpoConfig config = DpoTrainerTest.config(LossType.SIGMOID, 0.1f);
        try (DpoTrainer original = new DpoTrainer(EngineTestSupport.smallModel(manager, 8), config)) {
            for (int i = 0; i < 3; i++) {
                original.step(DpoTrainerTest.batch());
            }
            byte[] state = TrainerState.save(original, 777L);
            assertThat(TrainerState.step(state)).isEqualTo(3);
            TrainerState.Restored restored = TrainerState.restore(state, manager, config);
            try (DpoTrainer copy = restored.trainer()) {
                assertThat(restored.rngState()).isEqualTo(777L);
                assertThat(copy.step()).isEqualTo(3);
                for (int i = 0; i < 2; i++) {
                    StepResult a = original.step(DpoTrainerTest.batch());
                    StepResult b = copy.step(DpoTrainerTest.batch());
                    assertThat(b.loss()).isEqualTo(a.loss());
                }
                original.policy().parameters().forEach((name, p) ->
                        assertThat(copy.policy().parameters().get(name).toFloatArray()).as(name).containsExactly(p.toFloatArray()));
                original.reference().parameters().forEach((name, p) ->
                        assertThat(copy.reference().parameters().get(name).toFloatArray()).as(name).containsExactly(p.toFloatArray()));
            }
        }
    }

    @Test
    void damagedStateIsRefused() {
        DpoConfig config = DpoTrainerTest.config(LossType.IPO, 0f);
        try (DpoTrainer trainer = new DpoTrainer(EngineTestSupport.smallModel(manager, 9), config)) {
            byte[] state = TrainerState.save(trainer, 1L);
            byte[] flipped = state.clone();
            flipped[flipped.length / 2] ^= 1;
            assertThatThrownBy(() -> TrainerState.restore(flipped, manager, config))
                    .isInstanceOf(SnapshotException.class).hasMessageContaining("damaged");
            byte[] truncated = java.util.Arrays.copyOf(state, state.length - 100);
            assertThatThrownBy(() -> TrainerState.restore(truncated, manager, config)).isInstanceOf(SnapshotException.class);
        }
    }
}
