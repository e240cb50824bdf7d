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

import java.beans.PropertyChangeListener;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Everything a run says while it is open: every log event at INFO and above (messages and stack
 * traces, from every logger, Flink's and Kafka's included) and standard output, so tests can scan
 * it for values that must never appear. The console appenders are detached meanwhile (INFO is loud).
 * An embedded run reloads the logging configuration when it picks its run directory: the capture
 * installs itself again on every reload. Closing reloads the test configuration.
 */
final class CapturedOutput implements AutoCloseable {
    private final StringBuffer text = new StringBuffer();
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final PrintStream originalOut = System.out;
    private final LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
    private final Appender appender;
    private final PropertyChangeListener onReload;
    private volatile Configuration installedIn;

    CapturedOutput() {
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
        install(ctx.getConfiguration());
        onReload = e -> {
            // updateLoggers in install() fires this event too: react to a new configuration only.
            if (LoggerContext.PROPERTY_CONFIG.equals(e.getPropertyName()) && e.getNewValue() instanceof Configuration c
                    && c != installedIn) {
                install(c);
            }
        };
        ctx.addPropertyChangeListener(onReload);
        System.setOut(new PrintStream(new TeeStream(originalOut, stdout), true, StandardCharsets.UTF_8));
    }

    private void install(Configuration config) {
        installedIn = config;
        LoggerConfig root = config.getRootLogger();
        root.getAppenders().keySet().forEach(root::removeAppender);
        root.addAppender(appender, Level.INFO, null);
        root.setLevel(Level.INFO);
        config.getLoggers().values().forEach(l -> {
            if (l != root) {
                l.getAppenders().keySet().forEach(l::removeAppender); // no console, no files: everything reaches root
                if (l.getLevel() != null && l.getLevel().isMoreSpecificThan(Level.WARN)) {
                    l.setLevel(Level.INFO);
                }
            }
        });
        ctx.updateLoggers(config);
    }

    /** All captured text so far. */
    String text() {
        return text + "\n" + stdout.toString(StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        System.setOut(originalOut);
        ctx.removePropertyChangeListener(onReload);
        ctx.reconfigure(); // back to the test configuration
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
