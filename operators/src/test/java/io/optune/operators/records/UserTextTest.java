package io.optune.operators.records;

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

        PreferencePair p = new PreferencePair("p1", "r1", SECRET, "chosen " + SECRET, "rejected", 0.9, 0.1, 1.0, 3, true);
        PreferencePair hp = UserText.SHA256.apply(p);
        assertThat(hp.toString()).doesNotContain("4111");
        assertThat(hp.prompt()).isEqualTo(expected);
        assertThat(hp.chosenReward()).isEqualTo(0.9);
        assertThat(UserText.SHA256.apply(new PreferencePair("p2", "r2", SECRET, "a", "b", 1, 0, 1, 1, false)).prompt())
                .isEqualTo(hp.prompt());
        assertThat(UserText.SHA256.apply("")).isEmpty();
    }
}
