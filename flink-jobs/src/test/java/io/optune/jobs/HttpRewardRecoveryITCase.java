package io.optune.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.reward.GoldRewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.operators.faults.FaultInjection;
import io.optune.operators.records.PromptOutcome;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The loop with its reward behind HTTP (the built-in task's gold verifier served by a JDK HttpServer
 * with 20 ms latency per request), killed by a fault in the score step while requests are in flight.
 * Flink restarts from the last checkpoint, whose async-operator state holds the generations that were
 * waiting for their scores; they are sent again. The committed ledger must still account for every
 * arrival exactly once.
 */
class HttpRewardRecoveryITCase {
    static final int FEED = 300;
    static final int BATCH = 16;
    static final long SEED = 11;

    @TempDir
    Path dir;

    private GoldServer server;

    @AfterEach
    void stop() {
        FaultInjection.reset();
        if (server != null) {
            server.close();
        }
    }

    @Test
    void everyArrivalIsAccountedForOnceAfterAFailureWithRequestsInFlight() throws Exception {
        server = new GoldServer(20);
        String weights = dir.resolve("weights").toUri().toString();
        String[] common = {
            "--optune.seed", String.valueOf(SEED),
            "--optune.weights.path", weights,
            "--optune.source.builtin.count", String.valueOf(FEED),
            "--optune.batch.size", String.valueOf(BATCH),
            "--optune.embedded.sft-steps", "60", // the ledger needs a policy, not a good one
            "--optune.embedded.progress-interval", "15s",
            "--optune.train.held-out-size", "32",
            "--optune.train.publish-every", "10"};
        // The SFT warm start is tied to the gold reward; publish version 0 with it, then score over HTTP.
        Configuration gold = EmbeddedRuns.config(dir.resolve("warm-start"), common);
        FileSystemWeightLog log = PolicySigning.weightLog(gold, gold.toMap(), weights, dir.resolve("keys"));
        log.initialize();
        InitialPolicy.ensure(gold, log, s -> {});

        List<String> args = new ArrayList<>(List.of(common));
        args.addAll(List.of(
            "--optune.embedded.duration", "180s", // the whole feed, even on a loaded machine
            "--optune.reward.type", "HTTP",
            "--optune.reward.http.url", server.url(),
            "--optune.reward.http.batch-max-responses", "16",
            "--optune.reward.http.batch-max-delay", "10ms",
            "--optune.reward.http.max-in-flight", "4",
            "--optune.reward.http.capacity", "64"));
        FaultInjection.reset();
        FaultInjection.arm(FaultInjection.Point.SCORE, 100);
        EmbeddedMain.Summary s = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"), args.toArray(new String[0])));

        assertThat(FaultInjection.fired(FaultInjection.Point.SCORE)).as("the fault fired").isTrue();
        long firedAt = FaultInjection.firedAt(FaultInjection.Point.SCORE);
        long inFlightAtFault = server.calls.stream().filter(c -> c[0] <= firedAt && c[1] >= firedAt).count();
        // Whether a request was in flight at the fault depends on timing (the fault fires in the split step after
        // the 100th scored generation); the run is reported either way and the ledger must be exact in both.
        // Known open problem: with a 200 ms service the job made no progress after the restore (issue 11 note).

        List<PromptOutcome> ledger = Ledgers.committed(dir.resolve("run/ledger"));
        Ledgers.assertAccountsForBuiltinFeed(ledger, SEED, FEED, BATCH);
        assertThat(ledger).anyMatch(o -> o.outcome() == PromptOutcome.Outcome.TRAINED && o.fresh());
        System.out.printf("[http fault] %d arrivals, outcomes %s; %d requests, %d in flight at the fault; %d versions%n",
                ledger.size(), Ledgers.tally(ledger), server.calls.size(), inFlightAtFault, s.versions().size());
        WeightLogs.assertGapFreeAndLoadable(s.versions(), s.weightLog());
    }

    /** The gold verifier behind the optune protocol, with a fixed latency per request; records each call's span. */
    static final class GoldServer implements AutoCloseable {
        private static final ObjectMapper MAPPER = new ObjectMapper();
        final List<long[]> calls = new CopyOnWriteArrayList<>();
        private final HttpServer http;
        private final ExecutorService pool = Executors.newFixedThreadPool(8);
        private final GoldRewardModel gold = new GoldRewardModel();
        private final long latencyMs;

        GoldServer(long latencyMs) throws IOException {
            this.latencyMs = latencyMs;
            http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
            http.setExecutor(pool);
            http.createContext("/score", this::handle);
            http.start();
        }

        String url() {
            return "http://127.0.0.1:" + http.getAddress().getPort() + "/score";
        }

        private void handle(HttpExchange ex) throws IOException {
            long t0 = System.currentTimeMillis();
            try (ex) {
                JsonNode body = MAPPER.readTree(ex.getRequestBody());
                Thread.sleep(latencyMs);
                ObjectNode out = MAPPER.createObjectNode();
                ArrayNode scores = out.putArray("scores");
                for (JsonNode r : body.path("requests")) {
                    List<RewardQuery> q = new ArrayList<>();
                    r.path("responses").forEach(x -> q.add(RewardQuery.text(r.path("prompt").asText(), x.asText())));
                    ArrayNode s = scores.addArray();
                    for (double v : gold.score(q)) {
                        s.add(v);
                    }
                }
                byte[] bytes = MAPPER.writeValueAsBytes(out);
                ex.getResponseHeaders().set("Content-Type", "application/json");
                ex.sendResponseHeaders(200, bytes.length);
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(bytes);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                calls.add(new long[] {t0, System.currentTimeMillis()});
            }
        }

        @Override
        public void close() {
            http.stop(0);
            pool.shutdownNow();
        }
    }
}
