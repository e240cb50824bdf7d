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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The loop with its reward behind HTTP (the built-in task's gold verifier served by a JDK HttpServer
 * with 20 ms latency per request), killed by a fault in the score step while a request is in flight.
 * The server holds one request unanswered until a checkpoint has completed (so the async operator's
 * checkpointed state holds that request's generations), then arms the fault, which fires in the score
 * step on the next scored generation. Flink restarts from that checkpoint and sends the held
 * generations again. The committed ledger must still account for every arrival exactly once.
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
        // Early in the feed: how many requests it takes depends on timing, and a hold at the 30th once left no
        // scored result after it for the fault to fire on.
        server.holdAt(10, dir.resolve("run/ledger"));
        // The service refuses (400, not retried) every request that holds one of about 1 prompt in 40: dead letters.
        server.refuse(id -> Math.floorMod(id.hashCode(), 40) == 0);
        EmbeddedMain.Summary s = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"), args.toArray(new String[0])));

        assertThat(server.heldUntilCheckpoint).as("a checkpoint completed while request 10 was held").isTrue();
        assertThat(FaultInjection.fired(FaultInjection.Point.SCORE)).as("the fault fired").isTrue();
        long firedAt = FaultInjection.firedAt(FaultInjection.Point.SCORE);
        long inFlightAtFault = server.calls.stream().filter(c -> c[0] <= firedAt && c[1] >= firedAt).count();
        assertThat(inFlightAtFault).as("requests in flight at the fault").isGreaterThanOrEqualTo(1);
        // The held generations were in the checkpoint the job restored: they are scored again after the fault.
        List<String> resent = server.promptsSentAfter(firedAt);
        assertThat(resent).as("prompts sent after the fault").containsAll(server.held);

        List<PromptOutcome> ledger = Ledgers.committed(dir.resolve("run/ledger"));
        Ledgers.assertAccountsForBuiltinFeed(ledger, SEED, FEED, BATCH);
        assertThat(ledger).anyMatch(o -> o.outcome() == PromptOutcome.Outcome.TRAINED && o.fresh());
        // Each refused arrival is dead-lettered with the reason, once in the ledger and once in the dead-letter files.
        long refused = ledger.stream().filter(o -> o.outcome() == PromptOutcome.Outcome.DEAD_LETTERED
                && "reward-http-status-400".equals(o.reason())).count();
        assertThat(refused).as("arrivals dead-lettered by the service's 400").isPositive();
        assertThat(s.deadLettersByReason()).containsEntry("score/reward-http-status-400", refused);
        System.out.printf("[http fault] %d arrivals, outcomes %s; %d requests, %d in flight at the fault; %d versions%n",
                ledger.size(), Ledgers.tally(ledger), server.calls.size(), inFlightAtFault, s.versions().size());
        WeightLogs.assertGapFreeAndLoadable(s.versions(), s.weightLog());
    }

    /**
     * The gold verifier behind the optune protocol, with a fixed latency per request; records each call's
     * span and prompt ids, and can hold one request until a checkpoint completes, then arm the score fault.
     */
    static final class GoldServer implements AutoCloseable {
        private static final ObjectMapper MAPPER = new ObjectMapper();
        final List<long[]> calls = new CopyOnWriteArrayList<>();
        /** Per request: when it arrived, and its prompt ids. */
        private final List<Map.Entry<Long, List<String>>> prompts = new CopyOnWriteArrayList<>();
        private final java.util.concurrent.atomic.AtomicInteger received = new java.util.concurrent.atomic.AtomicInteger();
        private volatile int holdAt = -1;
        private volatile java.util.function.Predicate<String> refuse = id -> false;
        private volatile Path ledger;
        final List<String> held = new CopyOnWriteArrayList<>();
        volatile boolean heldUntilCheckpoint;
        private final HttpServer http;
        private final ExecutorService pool = Executors.newFixedThreadPool(8);
        private final GoldRewardModel gold = new GoldRewardModel();
        private final long latencyMs;

        GoldServer(long latencyMs) throws IOException {
            this.latencyMs = latencyMs;
            // Nagle off: the JDK server writes headers and body apart, and each answer would wait ~40 ms for a delayed ACK.
            System.setProperty("sun.net.httpserver.nodelay", "true");
            http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
            http.setExecutor(pool);
            http.createContext("/score", this::handle);
            http.start();
        }

        /**
         * Holds the {@code n}-th request until the ledger gains a committed file (a checkpoint completed while
         * the request's generations waited in the async operator), then arms the score fault and answers.
         */
        void holdAt(int n, Path ledgerDir) {
            this.ledger = ledgerDir;
            this.holdAt = n;
        }

        /** Answers 400 to every request holding a prompt id that {@code which} accepts. */
        void refuse(java.util.function.Predicate<String> which) {
            this.refuse = which;
        }

        /** Prompt ids of the requests that arrived after {@code at} (epoch milliseconds). */
        List<String> promptsSentAfter(long at) {
            List<String> out = new ArrayList<>();
            prompts.stream().filter(e -> e.getKey() > at).forEach(e -> out.addAll(e.getValue()));
            return out;
        }

        private static long committedFiles(Path dir) throws IOException {
            if (!Files.exists(dir)) {
                return 0;
            }
            try (Stream<Path> files = Files.walk(dir)) {
                return files.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith(".")).count();
            }
        }

        private void hold(List<String> ids) throws IOException, InterruptedException {
            held.addAll(ids);
            // Two commits: the first may come from a checkpoint triggered before this request was sent; the second
            // comes from one triggered after the first completed (one checkpoint at a time), so it holds the request.
            long deadline = System.currentTimeMillis() + 60_000;
            boolean ok = true;
            for (int commit = 0; commit < 2 && ok; commit++) {
                long before = committedFiles(ledger);
                while (committedFiles(ledger) == before && System.currentTimeMillis() < deadline) {
                    Thread.sleep(10);
                }
                ok = committedFiles(ledger) > before;
            }
            heldUntilCheckpoint = ok;
            // Fires on the next scored generation (other requests keep flowing) while this one is still unanswered.
            FaultInjection.arm(FaultInjection.Point.SCORE, 1);
            long fire = System.currentTimeMillis() + 10_000;
            while (!FaultInjection.fired(FaultInjection.Point.SCORE) && System.currentTimeMillis() < fire) {
                Thread.sleep(5);
            }
            Thread.sleep(50);
        }

        String url() {
            return "http://127.0.0.1:" + http.getAddress().getPort() + "/score";
        }

        private void handle(HttpExchange ex) throws IOException {
            long t0 = System.currentTimeMillis();
            try (ex) {
                JsonNode body = MAPPER.readTree(ex.getRequestBody());
                List<String> ids = new ArrayList<>();
                body.path("requests").forEach(r -> ids.add(r.path("id").asText()));
                prompts.add(Map.entry(t0, ids));
                if (received.incrementAndGet() == holdAt) {
                    hold(ids);
                }
                Thread.sleep(latencyMs);
                if (ids.stream().anyMatch(refuse)) {
                    byte[] no = "{\"error\":\"refused\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    ex.sendResponseHeaders(400, no.length);
                    try (OutputStream os = ex.getResponseBody()) {
                        os.write(no);
                    }
                    return;
                }
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
