package io.optune.engine.snapshot;

import ai.djl.ndarray.NDManager;
import io.optune.engine.EngineTestSupport;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static io.optune.engine.EngineTestSupport.TOKENIZER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PolicySnapshotTest {
    private NDManager manager;
    private TransformerLM model;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
        model = EngineTestSupport.smallModel(manager, 21);
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    @Test
    void roundTripIsBitIdenticalAndSelfDescribing() {
        byte[] bytes = PolicySnapshot.encode(model, TOKENIZER, 7, 140);
        PolicySnapshot.Loaded loaded = PolicySnapshot.load(bytes, manager, Hashing.sha256(bytes), model.config());
        assertThat(loaded.header().version()).isEqualTo(7);
        assertThat(loaded.header().step()).isEqualTo(140);
        assertThat(loaded.header().config()).isEqualTo(model.config());
        assertThat(loaded.tokenizer()).isEqualTo(TOKENIZER);
        model.parameters().forEach((name, p) -> {
            float[] a = p.toFloatArray();
            float[] b = loaded.model().parameters().get(name).toFloatArray();
            for (int i = 0; i < a.length; i++) {
                assertThat(Float.floatToRawIntBits(b[i])).as(name).isEqualTo(Float.floatToRawIntBits(a[i]));
            }
        });
        // Encoding the loaded model again yields the same bytes.
        assertThat(PolicySnapshot.encode(loaded.model(), loaded.tokenizer(), 7, 140)).isEqualTo(bytes);
    }

    @Test
    void tamperedParametersAreRefused() {
        byte[] bytes = PolicySnapshot.encode(model, TOKENIZER, 1, 1);
        bytes[bytes.length - 3] ^= 0x10;
        assertThatThrownBy(() -> PolicySnapshot.load(bytes, manager, null, null))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining("checksum");
    }

    @Test
    void truncatedOrForeignFilesAreRefused() {
        byte[] bytes = PolicySnapshot.encode(model, TOKENIZER, 1, 1);
        assertThatThrownBy(() -> PolicySnapshot.load(java.util.Arrays.copyOf(bytes, bytes.length - 64), manager, null, null))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining("truncated");
        assertThatThrownBy(() -> PolicySnapshot.load("not a snapshot".getBytes(StandardCharsets.UTF_8), manager, null, null))
                .isInstanceOf(SnapshotException.class);
        assertThatThrownBy(() -> PolicySnapshot.load(new byte[3], manager, null, null))
                .isInstanceOf(SnapshotException.class);
    }

    @Test
    void announcedChecksumAndModelShapeAreEnforced() {
        byte[] bytes = PolicySnapshot.encode(model, TOKENIZER, 1, 1);
        assertThatThrownBy(() -> PolicySnapshot.load(bytes, manager, "00".repeat(32), null))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining("announced");
        ModelConfig other = ModelConfig.gpt2(TOKENIZER.vocabSize(), 32, 64, 2, 4);
        assertThatThrownBy(() -> PolicySnapshot.load(bytes, manager, null, other))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining("expected");
    }

    /** Hugging Face models pad their vocabulary past the tokenizer's: accepted; a tokenizer the model cannot embed is not. */
    @Test
    void aModelVocabularyLargerThanTheTokenizersIsAcceptedASmallerOneRefused() {
        ModelConfig padded = ModelConfig.gpt2(TOKENIZER.vocabSize() + 13, 32, 32, 2, 4);
        try (TransformerLM wide = TransformerLM.create(padded, manager, 5, false)) {
            byte[] bytes = PolicySnapshot.encode(wide, TOKENIZER, 2, 3);
            PolicySnapshot.Loaded loaded = PolicySnapshot.load(bytes, manager, null, padded);
            assertThat(loaded.model().config().vocabSize()).isEqualTo(TOKENIZER.vocabSize() + 13);
            assertThat(loaded.tokenizer()).isEqualTo(TOKENIZER);
            loaded.model().close();
        }
        ModelConfig narrow = ModelConfig.gpt2(TOKENIZER.vocabSize() - 1, 32, 32, 2, 4);
        try (TransformerLM small = TransformerLM.create(narrow, manager, 5, false)) {
            assertThatThrownBy(() -> PolicySnapshot.encode(small, TOKENIZER, 2, 3))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("exceeds the model's " + (TOKENIZER.vocabSize() - 1));
        }
    }
}
