package io.optune.jobs;

import java.nio.file.Path;

/**
 * Sends the full log of an embedded run to {@code <run-dir>/optune.log}: the logging configuration
 * ({@code conf/log4j-embedded.properties}) names the file through the system property
 * {@value #PROPERTY}, known only once the run directory is chosen, so the configuration is reloaded then.
 */
final class RunLogging {
    static final String PROPERTY = "optune.run.log";
    static final String FILE = "optune.log";

    private RunLogging() {}

    /** Returns the log file, or null when the logging configuration writes none (tests, other back ends). */
    static Path attach(Path runDir) {
        Path file = runDir.resolve(FILE).toAbsolutePath();
        System.setProperty(PROPERTY, file.toString());
        try {
            if (org.apache.logging.log4j.LogManager.getContext(false) instanceof org.apache.logging.log4j.core.LoggerContext ctx) {
                ctx.reconfigure();
                boolean writes = ctx.getConfiguration().getAppenders().values().stream()
                        .anyMatch(a -> a instanceof org.apache.logging.log4j.core.appender.FileAppender f
                                && Path.of(f.getFileName()).toAbsolutePath().equals(file));
                if (writes) {
                    // the dashboard's "Logs" tab shows the file Flink's own scripts would name here
                    System.setProperty("log.file", file.toString());
                }
                return writes ? file : null;
            }
        } catch (LinkageError noLog4jCore) {
            // another logging back end: it logs where it is configured to
        }
        return null;
    }
}
