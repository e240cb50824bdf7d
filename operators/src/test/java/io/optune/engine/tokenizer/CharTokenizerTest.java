package io.optune.engine.tokenizer;

import io.optune.engine.InvalidInputException;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CharTokenizerTest {
    private final CharTokenizer tok = new CharTokenizer();

    @Test
    void roundTripsPrintableAscii() {
        String text = "add 12+7= {~}";
        assertThat(tok.decode(tok.encode(text))).isEqualTo(text);
        assertThat(tok.vocabSize()).isEqualTo(98);
    }

    @Test
    void decodeSkipsSpecialsAndStopsAtEos() {
        int[] ids = {tok.bosId().getAsInt(), tok.encode("a")[0], tok.padId(), tok.encode("b")[0], tok.eosId(), tok.encode("c")[0]};
        assertThat(tok.decode(ids)).isEqualTo("ab");
    }

    @Test
    void rejectsCharactersOutsideTheAlphabet() {
        assertThatThrownBy(() -> tok.encode("tab\there"))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("U+0009");
    }

    @Test
    void specRebuildsAnEqualTokenizer() {
        CharTokenizer custom = new CharTokenizer("xyz");
        assertThat(Tokenizers.fromSpec(custom.spec())).isEqualTo(custom);
        assertThatThrownBy(() -> Tokenizers.fromSpec(java.util.Map.of("type", "bpe")))
                .hasMessageContaining("unknown tokenizer type 'bpe'");
    }
}
