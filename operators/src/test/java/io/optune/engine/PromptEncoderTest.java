package io.optune.engine;

import org.junit.jupiter.api.Test;

import static io.optune.engine.EngineTestSupport.ENCODER;
import static io.optune.engine.EngineTestSupport.TOKENIZER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PromptEncoderTest {
    @Test
    void promptStartsWithBosAndResponseEndsWithEos() {
        int[] p = ENCODER.encodePrompt("rev ab=");
        assertThat(p[0]).isEqualTo(TOKENIZER.bosId().getAsInt());
        assertThat(p).hasSize(8);
        int[] r = ENCODER.encodeResponse("ba");
        assertThat(r[r.length - 1]).isEqualTo(TOKENIZER.eosId());
        assertThat(TOKENIZER.decode(r)).isEqualTo("ba");
    }

    @Test
    void refusesEmptyTooLongAndUnknownInput() {
        assertThatThrownBy(() -> ENCODER.encodePrompt("  "))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("empty-prompt"));
        assertThatThrownBy(() -> ENCODER.encodePrompt(null))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("empty-prompt"));
        assertThatThrownBy(() -> ENCODER.encodePrompt("x".repeat(24)))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("prompt-too-long"));
        assertThatThrownBy(() -> ENCODER.encodePrompt("x".repeat(100_000)))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("prompt-too-long"));
        assertThatThrownBy(() -> ENCODER.encodePrompt("héllo"))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> {
                    assertThat(e.reason()).isEqualTo("unknown-character");
                    assertThat(e.getMessage()).contains("U+00E9").contains("index 1");
                });
    }
}
