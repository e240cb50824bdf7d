package io.optune.engine;

import io.optune.engine.tokenizer.ChatMessage;
import io.optune.engine.tokenizer.TemplatedCharTokenizer;
import org.junit.jupiter.api.Test;

import java.util.List;

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

    @Test
    void chatPromptsAreValidatedAndNeedAChatTemplate() {
        List<ChatMessage> chat = List.of(ChatMessage.system("s"), ChatMessage.user("rev ab="));
        assertThatThrownBy(() -> ENCODER.encode(null, chat))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("no-chat-template"));
        PromptEncoder templated = new PromptEncoder(new TemplatedCharTokenizer(), 24);
        int[] ids = templated.encode("ignored when there are messages", chat);
        // The template places everything itself: no BOS is added to a chat prompt.
        assertThat(templated.tokenizer().decode(ids)).isEqualTo("s:s|u:rev ab=|a:");
        assertThat(ids).hasSize("s:s|u:rev ab=|a:".length());
        assertThat(templated.encode("rev ab=", List.of())).isEqualTo(templated.encodePrompt("rev ab="));
        assertThatThrownBy(() -> templated.encodeChat(List.of(new ChatMessage("tool", "x"))))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("invalid-message"));
        assertThatThrownBy(() -> templated.encodeChat(List.of(ChatMessage.user(" "))))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("empty-prompt"));
        assertThatThrownBy(() -> templated.encodeChat(List.of()))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("empty-prompt"));
        assertThatThrownBy(() -> templated.encodeChat(List.of(ChatMessage.user("x".repeat(20)))))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.reason()).isEqualTo("prompt-too-long"));
        assertThatThrownBy(() -> templated.encodeChat(List.of(ChatMessage.user("x".repeat(1_000_000)))))
                .isInstanceOfSatisfying(InvalidInputException.class, e -> assertThat(e.getMessage()).contains("characters"));
    }
}
