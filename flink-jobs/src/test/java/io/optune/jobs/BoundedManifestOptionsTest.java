package io.optune.jobs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The MANIFEST of a RocksDB that flushes as often as a checkpointing job stays below the bound. */
class BoundedManifestOptionsTest {
    private static final int FLUSHES = 600;
    private static final long BOUND = 16 * 1024;

    @Test
    void theManifestRollsOverAtTheBoundWhileTheDefaultOneKeepsGrowing(@TempDir Path dir) throws Exception {
        RocksDB.loadLibrary();
        long bounded;
        try (DBOptions db = new BoundedManifestOptions(BOUND).createDBOptions(new DBOptions(), new ArrayList<>())) {
            bounded = manifestAfterFlushes(dir.resolve("bounded"), db.maxManifestFileSize());
        }
        long unbounded = manifestAfterFlushes(dir.resolve("default"), new DBOptions().maxManifestFileSize());
        assertThat(unbounded).as("without the bound the MANIFEST grows with every flush").isGreaterThan(4 * BOUND);
        assertThat(bounded).as("with it, it starts again past the bound").isLessThanOrEqualTo(BOUND + 4096);
    }

    @Test
    void theDefaultBoundIsWhatTheConfigurationsName() throws Exception {
        try (DBOptions db = new BoundedManifestOptions().createDBOptions(new DBOptions(), new ArrayList<>())) {
            assertThat(db.maxManifestFileSize()).isEqualTo(BoundedManifestOptions.DEFAULT_MAX_MANIFEST_BYTES);
        }
        for (Path conf : List.of(Path.of("../conf/embedded/flink.yaml"), Path.of("../conf/flink/config.yaml"),
                Path.of("../helm/optune-flink/templates/flinkdeployment.yaml"))) {
            assertThat(Files.readString(conf)).as(conf.toString())
                    .contains("state.backend.rocksdb.options-factory: " + BoundedManifestOptions.class.getName())
                    // Its companion against the other slow growth of RocksDB's files: small SSTs merged in the background.
                    .contains(org.apache.flink.state.rocksdb.sstmerge.RocksDBManualCompactionOptions.MIN_INTERVAL.key() + ": 1min");
        }
    }

    /** Writes and flushes {@value #FLUSHES} times (a checkpoint flushes once) and returns the live MANIFEST's size. */
    private static long manifestAfterFlushes(Path path, long maxManifest) throws Exception {
        Files.createDirectories(path);
        try (Options options = new Options().setCreateIfMissing(true).setMaxManifestFileSize(maxManifest)
                        .setDisableAutoCompactions(false);
                RocksDB db = RocksDB.open(options, path.toString());
                FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            for (int i = 0; i < FLUSHES; i++) {
                db.put(("key-" + (i % 50)).getBytes(StandardCharsets.UTF_8), ("value-" + i).getBytes(StandardCharsets.UTF_8));
                db.flush(flush);
            }
            String current = Files.readString(path.resolve("CURRENT")).trim();
            try (Stream<Path> files = Files.list(path)) {
                assertThat(files.filter(f -> f.getFileName().toString().startsWith("MANIFEST-")).count()).isGreaterThanOrEqualTo(1);
            }
            return Files.size(path.resolve(current));
        }
    }
}
