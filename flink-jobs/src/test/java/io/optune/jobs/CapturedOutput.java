package io.optune.jobs;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.Property;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Everything a run says while it is open: every log event at INFO and above (messages and stack
 * traces, from every logger, Flink's and Kafka's included) and standard output, so tests can scan
 * it for values that must never appear. The console appender is detached meanwhile (INFO is loud).
 */
final class CapturedOutput implements AutoCloseable {
    private final StringBuffer text = new StringBuffer();
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final PrintStream originalOut = System.out;
    private final Level originalLevel;
    private final Map<String, Appender> detached;
    private final Map<LoggerConfig, Level> quieted = new java.util.HashMap<>();
    private final Appender appender;

    CapturedOutput() {
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        Configuration config = ctx.getConfiguration();
        LoggerConfig root = config.getRootLogger();
        originalLevel = root.getLevel();
        detached = Map.copyOf(root.getAppenders());
        detached.keySet().forEach(root::removeAppender);
        appender = new AbstractAppender("captured-" + System.nanoTime(), null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent event) {
                text.append(event.getLevel()).append(' ').append(event.getLoggerName()).append(" - ")
                        .append(event.getMessage().getFormattedMessage()).append('\n');
                for (Throwable t = event.getThrown(); t != null; t = t.getCause()) {
                    text.append("  ").append(t).append('\n');
                }
            }
        };
        appender.start();
        root.addAppender(appender, Level.INFO, null);
        root.setLevel(Level.INFO);
        ctx.getConfiguration().getLoggers().values().forEach(l -> {
            if (l != root && l.getLevel() != null && l.getLevel().isMoreSpecificThan(Level.WARN)) {
                quieted.put(l, l.getLevel());
                l.setLevel(Level.INFO);
            }
        });
        ctx.updateLoggers();
        System.setOut(new PrintStream(new TeeStream(originalOut, stdout), true, StandardCharsets.UTF_8));
    }

    /** All captured text so far. */
    String text() {
        return text + "\n" + stdout.toString(StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        System.setOut(originalOut);
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        LoggerConfig root = ctx.getConfiguration().getRootLogger();
        root.removeAppender(appender.getName());
        detached.values().forEach(a -> root.addAppender(a, null, null));
        root.setLevel(originalLevel);
        quieted.forEach(LoggerConfig::setLevel);
        ctx.updateLoggers();
        appender.stop();
    }

    private static final class TeeStream extends java.io.OutputStream {
        private final java.io.OutputStream a;
        private final java.io.OutputStream b;

        TeeStream(java.io.OutputStream a, java.io.OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int x) throws java.io.IOException {
            a.write(x);
            b.write(x);
        }

        @Override
        public void write(byte[] buf, int off, int len) throws java.io.IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }
    }
}
