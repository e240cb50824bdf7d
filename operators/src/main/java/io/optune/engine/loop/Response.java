package io.optune.engine.loop;

import java.util.Arrays;

/**
 * A response as the policy sampled it: its token ids, exactly what training scores (ending with the
 * EOS id that stopped it, or without one when the length limit cut it), and the text decoded from
 * them once, at generation, for the reward model and the audit log. The text is never encoded
 * back: a re-tokenisation need not give the same ids.
 *
 * @param ids sampled token ids, never null
 * @param text decoded text
 */
public record Response(int[] ids, String text) {

    public Response {
        if (ids == null) {
            throw new IllegalArgumentException("a response needs its token ids");
        }
        text = text == null ? "" : text;
    }

    /** Same ids (the text follows from them). */
    public boolean sameIds(Response other) {
        return Arrays.equals(ids, other.ids);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Response r && Arrays.equals(ids, r.ids) && text.equals(r.text);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(ids) + text.hashCode();
    }

    @Override
    public String toString() {
        return "Response[" + Arrays.toString(ids) + " '" + text + "']";
    }
}
