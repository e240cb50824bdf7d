package io.optune.jobs;

import io.optune.engine.Json;
import io.optune.operators.records.DeadLetter;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * Dead letters as committed in the dead-letter directory, from every step (ingest, generate, score):
 * the files are the record of what was refused, so the summary counts them rather than one step's
 * counter. In-progress part files (dot-prefixed) are not committed and not counted.
 *
 * @param total every committed dead letter in the directory (earlier jobs of a resumed run included)
 * @param since those written at or after the given time (this run's job)
 * @param byReason "stage/reason" to count, of {@code since}
 */
public record DeadLetterCounts(long total, long since, Map<String, Long> byReason) {

    public static DeadLetterCounts count(String directory, long sinceMillis) throws IOException {
        Path dir = new Path(directory);
        FileSystem fs = dir.getFileSystem();
        long[] totals = new long[2];
        Map<String, Long> byReason = new TreeMap<>();
        if (fs.exists(dir)) {
            walk(fs, dir, sinceMillis, totals, byReason);
        }
        return new DeadLetterCounts(totals[0], totals[1], byReason);
    }

    private static void walk(FileSystem fs, Path dir, long since, long[] totals, Map<String, Long> byReason) throws IOException {
        FileStatus[] children = fs.listStatus(dir);
        if (children == null) {
            return;
        }
        for (FileStatus f : children) {
            String name = f.getPath().getName();
            if (f.isDir()) {
                walk(fs, f.getPath(), since, totals, byReason);
            } else if (!name.startsWith(".") && !name.startsWith("_")) {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(fs.open(f.getPath()), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        if (line.isBlank()) {
                            continue;
                        }
                        totals[0]++;
                        DeadLetter d = Json.read(line, DeadLetter.class);
                        if (d.time() >= since) {
                            totals[1]++;
                            byReason.merge(d.stage() + "/" + d.reason(), 1L, Long::sum);
                        }
                    }
                }
            }
        }
    }
}
