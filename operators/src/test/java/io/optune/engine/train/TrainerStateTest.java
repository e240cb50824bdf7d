package io.optune.engine.train;

import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.model.TransformerLM;
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

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(io.optune.engine.model.Precision.class)
    void restoredTrainerContinuesExactlyLikeTheOriginal(io.optune.engine.model.Precision precision) {
        DpoConfig config = DpoTrainerTest.config(LossType.SIGMOID, 0.1f).withPrecision(precision);
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
                assertThat(copy.lossScaler().scale()).as("loss scale").isEqualTo(original.lossScaler().scale());
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

    /** The streamed form is the same bytes; a Llama-family trainer round-trips through a file. */
    @Test
    void streamsThroughAFileForEveryFamily(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        DpoConfig config = DpoTrainerTest.config(LossType.SIGMOID, 0f);
        TransformerLM policy = EngineTestSupport.sharpModel(io.optune.engine.model.ModelFamily.LLAMA, manager, 10);
        TransformerLM reference = EngineTestSupport.sharpModel(io.optune.engine.model.ModelFamily.LLAMA, manager, 11);
        try (DpoTrainer original = new DpoTrainer(policy, reference, config)) {
            original.step(DpoTrainerTest.batch());
            java.nio.file.Path file = tmp.resolve("state.safetensors");
            try (var out = new java.io.BufferedOutputStream(java.nio.file.Files.newOutputStream(file))) {
                TrainerState.write(original, 5L, out);
            }
            assertThat(java.nio.file.Files.readAllBytes(file)).isEqualTo(TrainerState.save(original, 5L));
            TrainerState.Restored restored;
            try (var in = new java.io.BufferedInputStream(java.nio.file.Files.newInputStream(file))) {
                restored = TrainerState.read(in, manager, config);
            }
            try (DpoTrainer copy = restored.trainer()) {
                assertThat(copy.step()).isEqualTo(1);
                assertThat(copy.step(DpoTrainerTest.batch()).loss()).isEqualTo(original.step(DpoTrainerTest.batch()).loss());
                original.reference().parameters().forEach((name, p) ->
                        assertThat(copy.reference().parameters().get(name).toFloatArray()).as(name).containsExactly(p.toFloatArray()));
                original.optimizer().secondMoments().forEach((name, v) ->
                        assertThat(copy.optimizer().secondMoments().get(name).toFloatArray()).as(name).containsExactly(v.toFloatArray()));
            }
            byte[] damaged = java.nio.file.Files.readAllBytes(file);
            damaged[damaged.length - 40] ^= 4; // inside the last tensor
            assertThatThrownBy(() -> TrainerState.read(new java.io.ByteArrayInputStream(damaged), manager, config))
                    .isInstanceOf(SnapshotException.class).hasMessageContaining("damaged");
        }
    }
}
