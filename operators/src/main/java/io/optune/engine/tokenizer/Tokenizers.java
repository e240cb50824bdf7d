package io.optune.engine.tokenizer;

import java.util.Map;

/** Rebuilds a tokenizer from its {@link Tokenizer#spec()}. */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * @throws IllegalArgumentException for an unknown type, a missing field, or (Hugging Face) a
     *     tokenizer file that changed since the spec was written
     */
    public static Tokenizer fromSpec(Map<String, ?> spec) {
        Object type = spec.get("type");
        if (CharTokenizer.TYPE.equals(type)) {
            Object alphabet = spec.get("alphabet");
            if (!(alphabet instanceof String)) {
                throw new IllegalArgumentException("char tokenizer spec needs a string 'alphabet'");
            }
            return new CharTokenizer((String) alphabet);
        }
        if (HfTokenizer.TYPE.equals(type)) {
            return HfTokenizer.fromSpec(spec);
        }
        throw new IllegalArgumentException(
                "unknown tokenizer type '" + type + "' (supported: " + CharTokenizer.TYPE + ", " + HfTokenizer.TYPE + ")");
    }
}
