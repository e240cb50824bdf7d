package io.optune.jobs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Whether the committed prompt ledger accounts for a bounded feed: an embedded run over a feed of
 * {@code expected} arrivals (optune.source.builtin.count) is done once the ledger holds that many
 * outcomes, one per arrival, instead of idling until its duration. Committed ledger files are
 * immutable, so each is counted once; a file the ledger's retention deleted keeps its count, and
 * hidden (in-progress) files are not committed yet.
 */
final class FeedLedger {
    private final Path dir;
    private final long expected;
    private final Map<Path, Long> counted = new HashMap<>();
    private long outcomes;

    FeedLedger(Path dir, long expected) {
        this.dir = dir;
        this.expected = expected;
    }

    /** Outcomes committed so far (reads only files not counted before). */
    long outcomes() {
        if (!Files.isDirectory(dir)) {
            return outcomes;
        }
        List<Path> files;
        try (Stream<Path> walk = Files.walk(dir)) {
            files = walk.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith("."))
                    .filter(f -> !counted.containsKey(f)).toList();
        } catch (IOException | UncheckedIOException e) {
            return outcomes; // a file moved under the walk (retention): read again next time
        }
        for (Path f : files) {
            try (Stream<String> lines = Files.lines(f)) {
                long n = lines.filter(l -> !l.isBlank()).count();
                counted.put(f, n);
                outcomes += n;
            } catch (IOException | UncheckedIOException e) {
                // deleted by retention between the walk and the read: it was counted before or never will be
            }
        }
        return outcomes;
    }

    /** True once every arrival of the feed has its committed outcome. */
    boolean accountedFor() {
        return outcomes() >= expected;
    }

    long expected() {
        return expected;
    }
}
