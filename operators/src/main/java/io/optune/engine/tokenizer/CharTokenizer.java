package io.optune.engine.tokenizer;

import io.optune.engine.InvalidInputException;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * One token per character of a fixed alphabet, after three specials: 0 = PAD, 1 = BOS, 2 = EOS.
 * Special ids cannot come from text at all: every character maps to an id above the specials.
 * The default alphabet is printable ASCII (space to tilde), which covers the built-in tasks.
 */
public final class CharTokenizer implements Tokenizer {
    private static final long serialVersionUID = 1L;
    public static final String TYPE = "char";
    public static final String PRINTABLE_ASCII;

    static {
        StringBuilder sb = new StringBuilder();
        for (char c = ' '; c <= '~'; c++) {
            sb.append(c);
        }
        PRINTABLE_ASCII = sb.toString();
    }

    private static final int SPECIALS = 3;
    private static final int EOS = 2;

    private final String alphabet;
    private final int[] idOfChar;

    public CharTokenizer() {
        this(PRINTABLE_ASCII);
    }

    public CharTokenizer(String alphabet) {
        if (alphabet == null || alphabet.isEmpty()) {
            throw new IllegalArgumentException("alphabet must not be empty");
        }
        this.alphabet = alphabet;
        int max = alphabet.chars().max().getAsInt();
        this.idOfChar = new int[max + 1];
        Arrays.fill(idOfChar, -1);
        for (int i = 0; i < alphabet.length(); i++) {
            char c = alphabet.charAt(i);
            if (idOfChar[c] != -1) {
                throw new IllegalArgumentException("alphabet repeats character '" + c + "'");
            }
            idOfChar[c] = SPECIALS + i;
        }
    }

    @Override
    public int vocabSize() {
        return SPECIALS + alphabet.length();
    }

    @Override
    public int padId() {
        return 0;
    }

    @Override
    public OptionalInt bosId() {
        return OptionalInt.of(1);
    }

    @Override
    public int[] eosIds() {
        return new int[] {EOS};
    }

    @Override
    public int eosId() {
        return EOS;
    }

    @Override
    public int[] encode(String text) {
        int[] ids = new int[text.length()];
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            int id = c < idOfChar.length ? idOfChar[c] : -1;
            if (id < 0) {
                throw new InvalidInputException(
                        "unknown-character",
                        String.format(
                                "character U+%04X at index %d is not in the tokenizer's alphabet", (int) c, i));
            }
            ids[i] = id;
        }
        return ids;
    }

    @Override
    public String decode(int[] ids) {
        StringBuilder sb = new StringBuilder(ids.length);
        for (int id : ids) {
            if (id == eosId()) {
                break;
            }
            if (id >= SPECIALS && id < vocabSize()) {
                sb.append(alphabet.charAt(id - SPECIALS));
            }
        }
        return sb.toString();
    }

    @Override
    public Map<String, Object> spec() {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("type", TYPE);
        spec.put("alphabet", alphabet);
        return spec;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CharTokenizer && ((CharTokenizer) o).alphabet.equals(alphabet);
    }

    @Override
    public int hashCode() {
        return alphabet.hashCode();
    }
}
