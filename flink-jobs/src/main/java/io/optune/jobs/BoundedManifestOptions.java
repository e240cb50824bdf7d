package io.optune.jobs;

import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;

import java.util.Collection;

/**
 * RocksDB options for a job that checkpoints incrementally for weeks: a MANIFEST of bounded size.
 *
 * <p>RocksDB appends a record to its MANIFEST at every flush and compaction and starts a new file
 * only past {@code max_manifest_file_size} (1 GB by default). An incremental checkpoint uploads the
 * whole MANIFEST each time (it is the checkpoint's private state, unlike the shared SST files), so with
 * a flush per checkpoint every few seconds each keyed operator's checkpoint grew by ~1.4 MB an hour
 * while its keys and live data stayed flat (the soak of docs/BENCHMARKS.md section 9b). Past this
 * size RocksDB rolls the MANIFEST over to a new one that starts with a compact snapshot of the live
 * files, so the file saw-tooths below the bound.
 *
 * <p>Set as {@code state.backend.rocksdb.options-factory} (embedded, cluster config and chart); it
 * only adds to the options Flink configured.
 */
public final class BoundedManifestOptions implements RocksDBOptionsFactory {
    private static final long serialVersionUID = 1L;

    /** Bytes a MANIFEST may reach before RocksDB starts a new one. */
    public static final long DEFAULT_MAX_MANIFEST_BYTES = 256 * 1024;

    private final long maxManifestBytes;

    public BoundedManifestOptions() {
        this(DEFAULT_MAX_MANIFEST_BYTES);
    }

    public BoundedManifestOptions(long maxManifestBytes) {
        if (maxManifestBytes < 4096) {
            throw new IllegalArgumentException("a MANIFEST bound below 4 KiB would roll over at every flush: " + maxManifestBytes);
        }
        this.maxManifestBytes = maxManifestBytes;
    }

    @Override
    public DBOptions createDBOptions(DBOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
        return currentOptions.setMaxManifestFileSize(maxManifestBytes);
    }

    @Override
    public ColumnFamilyOptions createColumnOptions(ColumnFamilyOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
        return currentOptions;
    }
}
