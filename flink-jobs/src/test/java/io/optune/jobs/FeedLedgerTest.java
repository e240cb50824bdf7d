package io.optune.jobs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class FeedLedgerTest {
    @Test
    void countsCommittedOutcomesOnceAndKeepsWhatRetentionDeleted(@TempDir Path dir) throws Exception {
        FeedLedger fed = new FeedLedger(dir.resolve("ledger"), 5);
        assertThat(fed.outcomes()).isZero(); // no ledger yet
        Path bucket = Files.createDirectories(dir.resolve("ledger/2026-11-28--02"));
        Files.writeString(bucket.resolve("part-a-0"), "{\"o\":1}\n{\"o\":2}\n\n");
        Files.writeString(bucket.resolve(".part-a-1.inprogress.x"), "{\"o\":3}\n{\"o\":4}\n{\"o\":5}\n"); // not committed yet
        assertThat(fed.outcomes()).isEqualTo(2);
        assertThat(fed.accountedFor()).isFalse();

        Files.delete(bucket.resolve("part-a-0")); // the ledger's retention
        Files.writeString(bucket.resolve("part-a-1"), "{\"o\":3}\n{\"o\":4}\n");
        assertThat(fed.outcomes()).isEqualTo(4);
        assertThat(fed.accountedFor()).isFalse();
        Files.writeString(bucket.resolve("part-a-2"), "{\"o\":5}\n");
        assertThat(fed.accountedFor()).isTrue();
        assertThat(fed.outcomes()).isEqualTo(5);
    }
}
