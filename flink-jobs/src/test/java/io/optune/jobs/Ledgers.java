package io.optune.jobs;

import io.optune.engine.Json;
import io.optune.operators.records.PromptOutcome;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Reads what a prompt ledger committed, and checks that it accounts for a feed exactly once. */
final class Ledgers {
    private Ledgers() {}

    /** Lines of the committed files only: in-progress and pending files are hidden (dot) files. */
    static List<PromptOutcome> committed(Path ledgerDir) throws IOException {
        if (!Files.exists(ledgerDir)) {
            return List.of();
        }
        List<PromptOutcome> out = new ArrayList<>();
        try (Stream<Path> files = Files.walk(ledgerDir)) {
            for (Path f : files.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith(".")).toList()) {
                for (String line : Files.readAllLines(f)) {
                    if (!line.isBlank()) {
                        out.add(Json.read(line, PromptOutcome.class));
                    }
                }
            }
        }
        return out;
    }

    /** Counts per outcome ("TRAINED/fresh", "TRAINED/reused", "SKIPPED/<reason>", "DEAD_LETTERED/<reason>"). */
    static Map<String, Long> tally(List<PromptOutcome> ledger) {
        return ledger.stream().collect(Collectors.groupingBy(o -> o.outcome() == PromptOutcome.Outcome.TRAINED
                ? "TRAINED/" + (o.fresh() ? "fresh" : "reused") : o.outcome() + "/" + o.reason(), TreeMap::new, Collectors.counting()));
    }

    /**
     * Every one of the {@code count} built-in arrivals of {@code seed} has exactly one committed
     * outcome, and nothing else is in the ledger; trainer steps are committed once each.
     */
    static void assertAccountsForBuiltinFeed(List<PromptOutcome> ledger, long seed, int count, int batchSize) {
        List<String> expected = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            expected.add("builtin-" + seed + "-" + i);
        }
        assertAccountsFor(ledger, expected, batchSize);
    }

    /** As {@link #assertAccountsForBuiltinFeed}, for any list of request ids. */
    static void assertAccountsFor(List<PromptOutcome> ledger, List<String> expected, int batchSize) {
        Map<String, Long> perRequest = ledger.stream().collect(Collectors.groupingBy(PromptOutcome::requestId, Collectors.counting()));
        assertThat(perRequest.keySet()).as("arrivals in the ledger").containsExactlyInAnyOrderElementsOf(expected);
        assertThat(perRequest).as("outcomes per arrival").allSatisfy((id, n) -> assertThat(n).as(id).isEqualTo(1L));
        // Each committed trainer step trained one batch: a step replayed on top of its committed
        // outcomes (or a trainer restarted from scratch) would repeat step numbers past a batch.
        Map<Long, Long> perStep = ledger.stream().filter(o -> o.outcome() == PromptOutcome.Outcome.TRAINED)
                .collect(Collectors.groupingBy(PromptOutcome::step, TreeMap::new, Collectors.counting()));
        assertThat(perStep.values()).allSatisfy(n -> assertThat(n).isLessThanOrEqualTo((long) batchSize));
        long last = perStep.isEmpty() ? 0 : ((TreeMap<Long, Long>) perStep).lastKey();
        assertThat(perStep.keySet()).as("committed trainer steps are 1..%d without gaps", last)
                .containsExactlyElementsOf(Stream.iterate(1L, s -> s + 1).limit(last).toList());
    }
}
