package io.optune.connectors.weights;

import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;

import java.time.Duration;

/**
 * The feedback source of the loop on a file system: announcements of a {@link FileSystemWeightLog}
 * read back as a continuous stream (each new announcement file becomes one JSON line, parsed with
 * {@link FileSystemWeightLog#parse}). Files seen are part of the source's checkpoint, so a restart
 * neither replays nor skips versions.
 */
public final class PolicyUpdateSources {
    private PolicyUpdateSources() {}

    public static FileSource<String> announcements(FileSystemWeightLog log, Duration pollInterval) {
        return FileSource.forRecordStreamFormat(new TextLineInputFormat(), log.announcementsDir())
                .monitorContinuously(pollInterval)
                .build();
    }
}
