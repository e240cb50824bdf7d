package io.optune.connectors.weights;

import io.optune.connectors.files.feedback.FeedbackDirectorySource;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The feedback source of the loop on a file system: announcements of a {@link FileSystemWeightLog}
 * read back as a continuous stream (each new announcement file becomes one JSON line, parsed with
 * {@link FileSystemWeightLog#parse}). The source's state is only the highest version read, so a
 * restart neither replays nor skips versions and the state does not grow with the number of versions.
 * The log's retention prunes old announcements; a source so far behind that an announcement is pruned
 * before it is read skips it (newer ones follow), and the directory it lists stays as small as the
 * retention window.
 */
public final class PolicyUpdateSources {
    private PolicyUpdateSources() {}

    /** Announcement files are named {@code v<version, zero-padded>.json} (see {@link FileSystemWeightLog}). */
    private static final Pattern ANNOUNCEMENT = Pattern.compile("v(\\d{1,18})\\.json");

    public static FeedbackDirectorySource announcements(FileSystemWeightLog log, Duration pollInterval) {
        return FeedbackDirectorySource.ordered(log.announcementsDir().toString(), pollInterval, PolicyUpdateSources::announcedVersion);
    }

    /** The version an announcement file's name carries, or -1 for any other file (skipped). */
    public static long announcedVersion(String fileName) {
        Matcher m = ANNOUNCEMENT.matcher(fileName);
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }
}
