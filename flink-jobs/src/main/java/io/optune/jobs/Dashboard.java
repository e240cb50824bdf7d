package io.optune.jobs;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.function.Consumer;

/**
 * Flink's web dashboard for the embedded run (flink-runtime-web on the embedded classpath): on
 * 127.0.0.1 and a fixed port, so its address can be printed and bookmarked; another free port, with
 * a message, when that one is taken.
 */
final class Dashboard {
    private Dashboard() {}

    /** Sets the REST endpoint's address and port in {@code flink}; returns the dashboard's URL. */
    static String configure(Configuration flink, int wantedPort, Consumer<String> say) throws IOException {
        flink.set(RestOptions.ADDRESS, "127.0.0.1");
        flink.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
        if (wantedPort == 0) {
            // Flink binds a free port itself: a port found free here could be taken before the cluster
            // binds it (the SFT warm start runs in between), which failed a test run once.
            flink.set(RestOptions.BIND_PORT, "0");
            return "on a free port of 127.0.0.1 (optune.embedded.dashboard-port 0; Flink's log names it)";
        }
        int port = choosePort(wantedPort, say);
        flink.set(RestOptions.BIND_PORT, String.valueOf(port));
        flink.set(RestOptions.PORT, port);
        return "http://127.0.0.1:" + port + "/";
    }

    static int choosePort(int wanted, Consumer<String> say) throws IOException {
        if (wanted > 0) {
            if (isFree(wanted)) {
                return wanted;
            }
            int other = anyFreePort();
            say.accept("port " + wanted + " is taken (another run or program); the dashboard uses port " + other
                    + " instead (optune.embedded.dashboard-port chooses it)");
            return other;
        }
        return anyFreePort();
    }

    static boolean isFree(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static int anyFreePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
