package io.optune.operators.score;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToDoubleBiFunction;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * A reward service for tests and the benchmark: the JDK's {@link HttpServer} on 127.0.0.1, speaking
 * the optune or TEI protocol, scoring each response with {@code scorer} (default: its length). It can
 * be told to be slow, fail with a status, hang, close the connection mid-answer, answer garbage, the
 * wrong number of scores or NaN; it records what it received. {@code concurrency} handler threads
 * bound how many requests it serves at once.
 */
public final class RewardTestServer implements AutoCloseable {

    /** What the next answers do. */
    public enum Behaviour { OK, STATUS, HANG, CLOSE, GARBAGE, WRONG_LENGTH, NAN, INFINITE, BAD_GZIP }

    /** One request as received. */
    public record Received(int items, int responses, String authorization, String contentEncoding, JsonNode body) {}

    static {
        // The JDK server writes a response's headers and body separately and leaves Nagle's algorithm on by
        // default, so each answer waited ~40 ms for the client's delayed ACK: the benchmark measured that stall
        // (0.52 of the bound at every concurrency), not our client. Read once, when the first server starts.
        System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    // Bare NaN literals, as Python's json.dumps writes them.
    private static final ObjectMapper MAPPER = com.fasterxml.jackson.databind.json.JsonMapper.builder()
            .disable(com.fasterxml.jackson.core.json.JsonWriteFeature.WRITE_NAN_AS_STRINGS).build();

    private final HttpServer server;
    private final ExecutorService executor;
    private final HttpRewardConfig.Protocol protocol;
    private final CountDownLatch stopping = new CountDownLatch(1);
    private final List<Received> received = new CopyOnWriteArrayList<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger maxInFlight = new AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong servedNanos = new java.util.concurrent.atomic.AtomicLong();
    private final AtomicInteger served = new AtomicInteger();
    /** Client ends (address and port) seen: one per TCP connection. */
    private final java.util.Set<String> connections = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private volatile Behaviour behaviour = Behaviour.OK;
    private volatile int status = 500;
    private volatile int times = Integer.MAX_VALUE;
    private volatile long latencyMs;
    private volatile boolean gzipAnswers;
    private volatile boolean echoAuthorization;
    private volatile ToDoubleBiFunction<String, String> scorer = (prompt, response) -> response.length();

    private RewardTestServer(HttpServer server, HttpRewardConfig.Protocol protocol, int concurrency) {
        this.server = server;
        this.protocol = protocol;
        this.executor = Executors.newFixedThreadPool(concurrency);
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    public static RewardTestServer start(HttpRewardConfig.Protocol protocol, int concurrency) throws IOException {
        return new RewardTestServer(HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64), protocol, concurrency);
    }

    /** With two handler threads; for tests that cannot throw checked exceptions. */
    static RewardTestServer start0(HttpRewardConfig.Protocol protocol) {
        try {
            return start(protocol, 2);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Over TLS with the key in {@code keystore} (PKCS12). */
    public static RewardTestServer startTls(HttpRewardConfig.Protocol protocol, Path keystore, String password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keystore)) {
            ks.load(in, password.toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, password.toCharArray());
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        HttpsServer s = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        s.setHttpsConfigurator(new HttpsConfigurator(ctx));
        return new RewardTestServer(s, protocol, 4);
    }

    public URI url() {
        String scheme = server instanceof HttpsServer ? "https" : "http";
        return URI.create(scheme + "://127.0.0.1:" + server.getAddress().getPort() + (protocol == HttpRewardConfig.Protocol.TEI ? "/predict" : "/score"));
    }

    /** The next {@code n} requests behave like {@code b}, the rest answer normally. */
    public RewardTestServer behave(Behaviour b, int n) {
        this.behaviour = b;
        this.times = n;
        return this;
    }

    public RewardTestServer behave(Behaviour b) {
        return behave(b, Integer.MAX_VALUE);
    }

    /** STATUS answers with this code. */
    public RewardTestServer status(int code) {
        this.status = code;
        return this;
    }

    public RewardTestServer latency(long ms) {
        this.latencyMs = ms;
        return this;
    }

    public RewardTestServer gzipAnswers(boolean on) {
        this.gzipAnswers = on;
        return this;
    }

    /** Error answers repeat the Authorization header back, as a careless service might. */
    public RewardTestServer echoAuthorization(boolean on) {
        this.echoAuthorization = on;
        return this;
    }

    public RewardTestServer scorer(ToDoubleBiFunction<String, String> f) {
        this.scorer = f;
        return this;
    }

    public List<Received> received() {
        return received;
    }

    /** Most requests the server was handling at one time. */
    public int maxInFlight() {
        return maxInFlight.get();
    }

    private void handle(HttpExchange ex) throws IOException {
        long t0 = System.nanoTime();
        connections.add(String.valueOf(ex.getRemoteAddress()));
        int now = inFlight.incrementAndGet();
        maxInFlight.accumulateAndGet(now, Math::max);
        try (ex) {
            byte[] raw = ex.getRequestBody().readAllBytes();
            String enc = ex.getRequestHeaders().getFirst("Content-Encoding");
            if ("gzip".equalsIgnoreCase(enc)) {
                try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(raw))) {
                    raw = in.readAllBytes();
                }
            }
            JsonNode body = MAPPER.readTree(raw);
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            int items = protocol == HttpRewardConfig.Protocol.OPTUNE ? body.path("requests").size() : body.path("inputs").size();
            int responses = 0;
            if (protocol == HttpRewardConfig.Protocol.OPTUNE) {
                for (JsonNode r : body.path("requests")) {
                    responses += r.path("responses").size();
                }
            } else {
                responses = items;
            }
            received.add(new Received(items, responses, auth, enc, body));
            if (latencyMs > 0) {
                sleep(latencyMs);
            }
            Behaviour b = behaviour;
            synchronized (this) {
                if (times <= 0) {
                    b = Behaviour.OK;
                } else if (b != Behaviour.OK) {
                    times--;
                }
            }
            switch (b) {
                case STATUS -> send(ex, status, ("{\"error\":\"told to fail\"" + (echoAuthorization ? ",\"seen\":\"" + auth + "\"" : "") + "}")
                        .getBytes(StandardCharsets.UTF_8));
                case HANG -> sleep(TimeUnit.MINUTES.toMillis(5));
                case CLOSE -> {
                    ex.sendResponseHeaders(200, 1000);
                    ex.getResponseBody().write("{\"scores\":[[1.0,".getBytes(StandardCharsets.UTF_8));
                    ex.getResponseBody().flush();
                    // Closing short of the announced length makes the server drop the connection.
                }
                case GARBAGE -> send(ex, 200, "<html>not json".getBytes(StandardCharsets.UTF_8));
                case BAD_GZIP -> {
                    // Says gzip, sends plain JSON: what a misconfigured proxy does.
                    byte[] plain = MAPPER.writeValueAsBytes(answer(body, Behaviour.OK));
                    ex.getResponseHeaders().set("Content-Encoding", "gzip");
                    ex.sendResponseHeaders(200, plain.length);
                    try (OutputStream os = ex.getResponseBody()) {
                        os.write(plain);
                    }
                }
                default -> send(ex, 200, MAPPER.writeValueAsBytes(answer(body, b)));
            }
        } catch (RuntimeException | IOException e) {
            // CLOSE ends here on purpose; anything else is the client's problem to see.
        } finally {
            inFlight.decrementAndGet();
            servedNanos.addAndGet(System.nanoTime() - t0);
            served.incrementAndGet();
        }
    }

    /** How many TCP connections requests came in on. */
    public int connections() {
        return connections.size();
    }

    /** Mean time a request spent in this server's handler (latency, parsing, scoring, answering), in ms. */
    public double meanServiceMillis() {
        int n = served.get();
        return n == 0 ? Double.NaN : servedNanos.get() / 1e6 / n;
    }

    private JsonNode answer(JsonNode body, Behaviour b) {
        if (protocol == HttpRewardConfig.Protocol.OPTUNE) {
            ObjectNode root = MAPPER.createObjectNode();
            ArrayNode scores = root.putArray("scores");
            for (JsonNode r : body.path("requests")) {
                String prompt = r.has("prompt") ? r.path("prompt").asText() : r.path("messages").toString();
                ArrayNode s = scores.addArray();
                for (JsonNode resp : r.path("responses")) {
                    s.add(s.isEmpty() && nonFinite(b) ? nonFiniteScore(b) : scorer.applyAsDouble(prompt, resp.asText()));
                }
                if (b == Behaviour.WRONG_LENGTH) {
                    s.add(0.0);
                }
            }
            return root;
        }
        ArrayNode out = MAPPER.createArrayNode();
        for (JsonNode pair : body.path("inputs")) {
            double score = scorer.applyAsDouble(pair.get(0).asText(), pair.get(1).asText());
            ArrayNode labels = out.addArray();
            labels.addObject().put("score", nonFinite(b) && out.size() == 1 ? nonFiniteScore(b) : score).put("label", "LABEL_0");
        }
        if (b == Behaviour.WRONG_LENGTH) {
            out.addArray().addObject().put("score", 0.0).put("label", "LABEL_0");
        }
        return out;
    }

    private static boolean nonFinite(Behaviour b) {
        return b == Behaviour.NAN || b == Behaviour.INFINITE;
    }

    /** Written as bare literals, as Python's json.dumps writes them: NaN or Infinity. */
    private static double nonFiniteScore(Behaviour b) {
        return b == Behaviour.NAN ? Double.NaN : Double.POSITIVE_INFINITY;
    }

    private void send(HttpExchange ex, int code, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "application/json");
        String accept = ex.getRequestHeaders().getFirst("Accept-Encoding");
        if (gzipAnswers && accept != null && accept.contains("gzip")) {
            ByteArrayOutputStream bos = new ByteArrayOutputStream();
            try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
                gz.write(body);
            }
            body = bos.toByteArray();
            ex.getResponseHeaders().set("Content-Encoding", "gzip");
        }
        ex.sendResponseHeaders(code, body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }

    private void sleep(long ms) {
        try {
            stopping.await(ms, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        stopping.countDown();
        server.stop(0);
        executor.shutdownNow();
    }
}
