package io.optune.operators.score;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.tokenizer.ChatMessage;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.UnaryOperator;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * Scores batches of responses on a remote reward service over HTTP (free of Flink). One call is one
 * POST carrying several prompts' responses; the JDK {@link HttpClient} keeps connections alive
 * (HTTP/1.1) or multiplexes them (HTTP/2 over TLS where the server offers it). Requests are gzipped
 * when configured; gzipped responses are always accepted. Every failure completes the future with a
 * {@link RewardHttpException} naming its dead-letter reason and whether a retry may help.
 */
public final class HttpRewardClient implements AutoCloseable {

    /** One prompt's responses: {@code prompt} text or chat {@code messages} (the other null). */
    public record Item(String id, String prompt, List<ChatMessage> messages, List<String> responses) implements RewardBatcher.Sized {
        @Override
        public int responseCount() {
            return responses.size();
        }
    }

    /** One item's outcome: its scores (finite or not, as the service sent them) or why it has none. */
    public record Scores(double[] values, RewardHttpException error) {}

    /** Observes each HTTP request (metrics). */
    public interface Listener {
        void requestDone(int responses, long nanos, RewardHttpException error);
    }

    // Python's json.dumps writes NaN and Infinity as bare literals: read them, they become dead letters.
    private static final ObjectMapper MAPPER = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();
    private static final int SNIPPET = 200;
    private static final java.util.Set<String> NON_FINITE = java.util.Set.of("NaN", "Infinity", "-Infinity", "inf", "-inf", "nan");

    private final HttpRewardConfig config;
    private final Listener listener;
    private final String token;
    private final ExecutorService executor;
    private final HttpClient http;

    public HttpRewardClient(HttpRewardConfig config, Listener listener) throws IOException {
        this(config, listener, System::getenv);
    }

    /** With an environment lookup of its own (tests). */
    HttpRewardClient(HttpRewardConfig config, Listener listener, UnaryOperator<String> env) throws IOException {
        this.config = config;
        this.listener = listener == null ? (n, t, e) -> {} : listener;
        this.token = readToken(config, env);
        this.executor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "reward-http");
            t.setDaemon(true);
            return t;
        });
        HttpClient.Builder b = HttpClient.newBuilder()
                .executor(executor)
                .connectTimeout(config.requestTimeout())
                // h2c upgrade on plain http confuses some servers; over TLS, ALPN picks HTTP/2 when offered.
                .version("https".equals(config.url().getScheme()) ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1);
        if (config.trustStore() != null) {
            b.sslContext(sslContext(config.trustStore(), config.trustStorePassword()));
        }
        this.http = b.build();
    }

    static String readToken(HttpRewardConfig config, UnaryOperator<String> env) throws IOException {
        if (config.tokenEnv() != null) {
            String t = env.apply(config.tokenEnv());
            if (t == null || t.isBlank()) {
                throw new IllegalArgumentException("the reward service token variable " + config.tokenEnv() + " is not set");
            }
            return t.strip();
        }
        if (config.tokenFile() != null) {
            Path p = Path.of(config.tokenFile());
            if (!Files.isReadable(p)) {
                throw new IllegalArgumentException("the reward service token file " + p + " is not readable");
            }
            String t = Files.readString(p).strip();
            if (t.isEmpty()) {
                throw new IllegalArgumentException("the reward service token file " + p + " is empty");
            }
            return t;
        }
        return null;
    }

    private static SSLContext sslContext(String trustStore, String password) throws IOException {
        try (InputStream in = Files.newInputStream(Path.of(trustStore))) {
            KeyStore ks = KeyStore.getInstance(trustStore.endsWith(".jks") ? "JKS" : "PKCS12");
            ks.load(in, password == null ? null : password.toCharArray());
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException("cannot load the reward service trust store " + trustStore + ": " + e.getMessage(), e);
        }
    }

    /** Sends one request for {@code items}; the future holds one {@link Scores} per item, in order. */
    public CompletableFuture<List<Scores>> score(List<Item> items) {
        int responses = items.stream().mapToInt(i -> i.responses().size()).sum();
        byte[] body;
        try {
            body = requestBody(items);
            if (config.gzipRequests()) {
                body = gzip(body);
            }
        } catch (IOException | RuntimeException e) {
            return CompletableFuture.failedFuture(new RewardHttpException("reward-http-request", false, "cannot encode the request: " + e.getMessage(), e));
        }
        HttpRequest.Builder rb = HttpRequest.newBuilder(config.url())
                .timeout(config.requestTimeout())
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("Accept-Encoding", "gzip")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (config.gzipRequests()) {
            rb.header("Content-Encoding", "gzip");
        }
        if (token != null) {
            rb.header("Authorization", "Bearer " + token);
        }
        long t0 = System.nanoTime();
        CompletableFuture<List<Scores>> out;
        try {
            out = http.sendAsync(rb.build(), HttpResponse.BodyHandlers.ofByteArray())
                    .handle((resp, err) -> {
                        if (err != null) {
                            throw new CompletionException(classify(err));
                        }
                        try {
                            return parse(resp, items);
                        } catch (RewardHttpException e) {
                            throw new CompletionException(e);
                        }
                    });
        } catch (RuntimeException e) {
            out = CompletableFuture.failedFuture(classify(e));
        }
        return out.whenComplete((r, err) -> listener.requestDone(responses, System.nanoTime() - t0,
                err == null ? null : (RewardHttpException) unwrap(err)));
    }

    private static Throwable unwrap(Throwable t) {
        while (t instanceof CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    private RewardHttpException classify(Throwable err) {
        Throwable t = unwrap(err);
        if (t instanceof RewardHttpException) {
            return (RewardHttpException) t;
        }
        if (t instanceof HttpTimeoutException) {
            return new RewardHttpException("reward-http-timeout", true, "no answer from " + config.url() + " within "
                    + config.requestTimeout().toMillis() + " ms", t);
        }
        if (t instanceof ConnectException) {
            return new RewardHttpException("reward-http-refused", true, "cannot connect to " + config.url() + ": " + t, t);
        }
        if (t instanceof javax.net.ssl.SSLException) {
            return new RewardHttpException("reward-http-tls", false, "TLS with " + config.url() + " failed: " + t.getMessage(), t);
        }
        if (t instanceof IOException) {
            return new RewardHttpException("reward-http-connection", true, "connection to " + config.url() + " failed: " + t, t);
        }
        return new RewardHttpException("reward-http-error", false, "calling " + config.url() + " failed: " + t, t);
    }

    byte[] requestBody(List<Item> items) throws IOException {
        ObjectNode root = MAPPER.createObjectNode();
        if (config.protocol() == HttpRewardConfig.Protocol.OPTUNE) {
            ArrayNode reqs = root.putArray("requests");
            for (Item it : items) {
                ObjectNode r = reqs.addObject();
                r.put("id", it.id());
                if (it.messages() != null) {
                    r.set("messages", MAPPER.valueToTree(it.messages()));
                } else {
                    r.put("prompt", it.prompt());
                }
                ArrayNode rs = r.putArray("responses");
                it.responses().forEach(rs::add);
            }
        } else {
            ArrayNode inputs = root.putArray("inputs");
            for (Item it : items) {
                if (it.messages() != null) {
                    throw new IllegalArgumentException("the TEI protocol scores text pairs; prompt " + it.id() + " is chat messages");
                }
                for (String response : it.responses()) {
                    inputs.addArray().add(it.prompt()).add(response);
                }
            }
            root.put("raw_scores", config.teiRawScores());
            root.put("truncate", true);
        }
        return MAPPER.writeValueAsBytes(root);
    }

    private List<Scores> parse(HttpResponse<byte[]> resp, List<Item> items) throws RewardHttpException {
        byte[] raw = resp.body() == null ? new byte[0] : resp.body();
        try {
            if (resp.headers().firstValue("Content-Encoding").map(v -> v.equalsIgnoreCase("gzip")).orElse(false)) {
                try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
                    raw = in.readAllBytes();
                }
            }
        } catch (IOException e) {
            throw new RewardHttpException("reward-http-malformed", true, "the gzipped answer of " + config.url() + " is corrupt: " + e.getMessage(), e);
        }
        int status = resp.statusCode();
        if (status / 100 != 2) {
            // 408, 429 and 5xx may pass; any other 4xx is a request the service will refuse again.
            boolean retriable = status == 408 || status == 429 || status >= 500;
            throw new RewardHttpException("reward-http-status-" + status, retriable, config.url() + " answered HTTP " + status + ": " + snippet(raw));
        }
        JsonNode body;
        try {
            body = MAPPER.readTree(raw);
        } catch (IOException e) {
            throw malformed("is not JSON (" + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()) + "): " + snippet(raw));
        }
        JsonNode scores = body == null ? null : body.at(config.scoresPath());
        if (scores == null || !scores.isArray()) {
            throw malformed("has no array at '" + config.scoresPath() + "': " + snippet(raw));
        }
        return config.protocol() == HttpRewardConfig.Protocol.OPTUNE ? parseOptune(scores, items) : parseTei(scores, items);
    }

    private List<Scores> parseOptune(JsonNode scores, List<Item> items) throws RewardHttpException {
        if (scores.size() != items.size()) {
            throw wrongLength(scores.size() + " score lists for " + items.size() + " requests");
        }
        List<Scores> out = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++) {
            JsonNode s = scores.get(i);
            int k = items.get(i).responses().size();
            if (!s.isArray()) {
                throw malformed("scores[" + i + "] is not an array");
            }
            if (s.size() != k) {
                out.add(new Scores(null, wrongLength(s.size() + " scores for the " + k + " responses of prompt " + items.get(i).id())));
                continue;
            }
            double[] v = new double[k];
            for (int j = 0; j < k; j++) {
                v[j] = number(s.get(j), "scores[" + i + "][" + j + "]");
            }
            out.add(new Scores(v, null));
        }
        return out;
    }

    private List<Scores> parseTei(JsonNode predictions, List<Item> items) throws RewardHttpException {
        int total = items.stream().mapToInt(i -> i.responses().size()).sum();
        if (predictions.size() != total) {
            throw wrongLength(predictions.size() + " predictions for " + total + " inputs");
        }
        List<Scores> out = new ArrayList<>(items.size());
        int at = 0;
        for (Item it : items) {
            double[] v = new double[it.responses().size()];
            for (int j = 0; j < v.length; j++, at++) {
                v[j] = teiScore(predictions.get(at), at);
            }
            out.add(new Scores(v, null));
        }
        return out;
    }

    private double teiScore(JsonNode labels, int index) throws RewardHttpException {
        if (!labels.isArray() || labels.isEmpty()) {
            throw malformed("prediction " + index + " is not a non-empty list of {score, label}");
        }
        if (config.teiLabel().isEmpty()) {
            if (labels.size() != 1) {
                throw malformed("prediction " + index + " has " + labels.size() + " labels: set the reward label (tei-label)");
            }
            return number(labels.get(0).get("score"), "prediction " + index + " score");
        }
        for (JsonNode l : labels) {
            if (config.teiLabel().equals(l.path("label").asText(null))) {
                return number(l.get("score"), "prediction " + index + " score");
            }
        }
        throw malformed("prediction " + index + " has no label '" + config.teiLabel() + "'");
    }

    private double number(JsonNode n, String where) throws RewardHttpException {
        if (n == null || n.isNull()) {
            return Double.NaN; // no score for this response: dropped as non-finite, like NaN
        }
        if (n.isTextual() && NON_FINITE.contains(n.asText())) {
            return Double.NaN; // some encoders write non-finite numbers as strings
        }
        if (!n.isNumber()) {
            throw malformed(where + " is not a number: " + n);
        }
        return n.doubleValue();
    }

    private RewardHttpException malformed(String what) {
        return new RewardHttpException("reward-http-malformed", true, "the answer of " + config.url() + " " + what);
    }

    private RewardHttpException wrongLength(String what) {
        return new RewardHttpException("reward-http-wrong-length", false, config.url() + " returned " + what);
    }

    private String snippet(byte[] raw) {
        String s = new String(raw, 0, Math.min(raw.length, SNIPPET * 4), StandardCharsets.UTF_8);
        if (s.length() > SNIPPET) {
            s = s.substring(0, SNIPPET) + "...";
        }
        // A service that echoes its request headers must not put the token into a dead letter.
        return token == null ? s : s.replace(token, "***");
    }

    private static byte[] gzip(byte[] body) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream(body.length / 3 + 64);
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(body);
        }
        return bos.toByteArray();
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
