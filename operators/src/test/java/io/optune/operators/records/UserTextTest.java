package io.optune.operators.records;

import io.optune.engine.loop.PairBuilder;
import io.optune.engine.loop.Response;
import io.optune.engine.snapshot.Hashing;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class UserTextTest {
    private static final String SECRET = "my card number is 4111 1111 1111 1111";

    @Test
    void fullKeepsEverything() {
        DeadLetter d = DeadLetter.of("r1", "p1", "ingest", "malformed-json", "not valid JSON: '" + SECRET + "'", SECRET);
        assertThat(UserText.FULL.apply(d)).isSameAs(d);
    }

    @Test
    void sha256KeepsNoTextButStaysMatchable() {
        DeadLetter d = DeadLetter.of("r1", "p1", "ingest", "malformed-json", "Unrecognized token '" + SECRET + "'", SECRET);
        DeadLetter h = UserText.SHA256.apply(d);
        String expected = "sha256:" + Hashing.sha256(SECRET.getBytes(StandardCharsets.UTF_8));
        assertThat(h.payload()).isEqualTo(expected);
        assertThat(h.toString()).doesNotContain("4111");
        assertThat(h.reason()).isEqualTo("malformed-json");
        assertThat(h.requestId()).isEqualTo("r1");

        PreferencePair p = new PreferencePair("p1", "r1", SECRET, new int[] {7, 8, 9},
                new PairBuilder.Pair(new Response(new int[] {4, 1, 1, 1}, "chosen " + SECRET), 0.9, new Response(new int[] {5}, "rejected"), 0.1, 1.0),
                3, true);
        PreferencePair hp = UserText.SHA256.apply(p);
        assertThat(hp.toString()).doesNotContain("4111");
        String json = io.optune.engine.Json.write(hp);
        assertThat(json).doesNotContain("4111").contains(expected);
        assertThat(hp.prompt()).isEqualTo(expected);
        assertThat(hp.chosenReward()).isEqualTo(0.9);
        // The ids decode to the text, so they are withheld too.
        assertThat(hp.promptIds()).isEmpty();
        assertThat(hp.chosen().ids()).isEmpty();
        assertThat(hp.rejected().ids()).isEmpty();
        assertThat(hp.chosen().text()).isEqualTo("sha256:" + Hashing.sha256(("chosen " + SECRET).getBytes(StandardCharsets.UTF_8)));
        PreferencePair other = new PreferencePair("p2", "r2", SECRET, new int[] {1},
                new PairBuilder.Pair(new Response(new int[] {1}, "a"), 1, new Response(new int[] {2}, "b"), 0, 1), 1, false);
        assertThat(UserText.SHA256.apply(other).prompt()).isEqualTo(hp.prompt());
        assertThat(UserText.FULL.apply(p)).isSameAs(p);
        assertThat(UserText.SHA256.apply("")).isEmpty();
    }
}
