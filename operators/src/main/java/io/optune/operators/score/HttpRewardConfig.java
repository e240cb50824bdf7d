package io.optune.operators.score;

import java.io.Serializable;
import java.net.URI;
import java.time.Duration;
import java.util.Objects;

/**
 * How to reach a remote reward service and map its JSON (docs/REWARD-HTTP.md). Holds where the
 * bearer token comes from (an environment variable or a file, e.g. a mounted Kubernetes Secret),
 * never the token itself, so this object may be logged and shipped with the job graph.
 *
 * <pre>{@code
 * HttpRewardConfig c = HttpRewardConfig.builder(URI.create("https://rm:8080/score"))
 *         .setProtocol(Protocol.OPTUNE).setBatchMaxResponses(64).setMaxInFlight(8).build();
 * }</pre>
 */
public final class HttpRewardConfig implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The wire format. */
    public enum Protocol {
        /** Our own: {@code {"requests":[{"id","prompt"|"messages","responses"}]}} -> {@code {"scores":[[..],..]}}. */
        OPTUNE,
        /** text-embeddings-inference {@code /predict}: {@code {"inputs":[[prompt,response],..]}} -> {@code [[{"score","label"}],..]}. */
        TEI
    }

    private final URI url;
    private final Protocol protocol;
    private final String scoresPath;
    private final String teiLabel;
    private final boolean teiRawScores;
    private final int batchMaxResponses;
    private final Duration batchMaxDelay;
    private final int maxInFlight;
    private final Duration requestTimeout;
    private final String tokenEnv;
    private final String tokenFile;
    private final String trustStore;
    private final String trustStorePassword;
    private final boolean gzipRequests;

    private HttpRewardConfig(Builder b) {
        this.url = b.url;
        this.protocol = b.protocol;
        this.scoresPath = b.scoresPath != null ? b.scoresPath : (b.protocol == Protocol.OPTUNE ? "/scores" : "");
        this.teiLabel = b.teiLabel == null ? "" : b.teiLabel;
        this.teiRawScores = b.teiRawScores;
        this.batchMaxResponses = b.batchMaxResponses;
        this.batchMaxDelay = b.batchMaxDelay;
        this.maxInFlight = b.maxInFlight;
        this.requestTimeout = b.requestTimeout;
        this.tokenEnv = b.tokenEnv;
        this.tokenFile = b.tokenFile;
        this.trustStore = b.trustStore;
        this.trustStorePassword = b.trustStorePassword;
        this.gzipRequests = b.gzipRequests;
    }

    public static Builder builder(URI url) {
        return new Builder(url);
    }

    public URI url() {
        return url;
    }

    public Protocol protocol() {
        return protocol;
    }

    /** JSON pointer (RFC 6901) to the scores in a response: an array with one entry per request item. */
    public String scoresPath() {
        return scoresPath;
    }

    /** TEI: the label whose score is the reward (empty: the service must return exactly one label). */
    public String teiLabel() {
        return teiLabel;
    }

    /** TEI: ask for raw logits ({@code raw_scores}) instead of sigmoid/softmax outputs. */
    public boolean teiRawScores() {
        return teiRawScores;
    }

    public int batchMaxResponses() {
        return batchMaxResponses;
    }

    public Duration batchMaxDelay() {
        return batchMaxDelay;
    }

    public int maxInFlight() {
        return maxInFlight;
    }

    public Duration requestTimeout() {
        return requestTimeout;
    }

    /** Name of the environment variable holding the bearer token, or null. */
    public String tokenEnv() {
        return tokenEnv;
    }

    /** File holding the bearer token (a mounted Kubernetes Secret), or null. */
    public String tokenFile() {
        return tokenFile;
    }

    public String trustStore() {
        return trustStore;
    }

    public String trustStorePassword() {
        return trustStorePassword;
    }

    public boolean gzipRequests() {
        return gzipRequests;
    }

    @Override
    public String toString() {
        // Names where the token lives, never the token (nor the trust-store password).
        return "HttpRewardConfig{url=" + url + ", protocol=" + protocol + ", scoresPath='" + scoresPath + "', batch<="
                + batchMaxResponses + " responses/" + batchMaxDelay.toMillis() + " ms, maxInFlight=" + maxInFlight
                + ", timeout=" + requestTimeout.toMillis() + " ms, token=" + (tokenEnv != null ? "env:" + tokenEnv
                : tokenFile != null ? "file:" + tokenFile : "none") + ", trustStore=" + trustStore + ", gzip=" + gzipRequests + "}";
    }

    /** Builder; {@link #build()} checks every value once. */
    public static final class Builder {
        private final URI url;
        private Protocol protocol = Protocol.OPTUNE;
        private String scoresPath;
        private String teiLabel;
        private boolean teiRawScores = true;
        private int batchMaxResponses = 64;
        private Duration batchMaxDelay = Duration.ofMillis(20);
        private int maxInFlight = 8;
        private Duration requestTimeout = Duration.ofSeconds(10);
        private String tokenEnv;
        private String tokenFile;
        private String trustStore;
        private String trustStorePassword;
        private boolean gzipRequests;

        private Builder(URI url) {
            this.url = url;
        }

        public Builder setProtocol(Protocol protocol) {
            this.protocol = Objects.requireNonNull(protocol);
            return this;
        }

        public Builder optScoresPath(String path) {
            this.scoresPath = path;
            return this;
        }

        public Builder optTeiLabel(String label) {
            this.teiLabel = label;
            return this;
        }

        public Builder optTeiRawScores(boolean raw) {
            this.teiRawScores = raw;
            return this;
        }

        public Builder setBatchMaxResponses(int n) {
            this.batchMaxResponses = n;
            return this;
        }

        public Builder setBatchMaxDelay(Duration d) {
            this.batchMaxDelay = d;
            return this;
        }

        public Builder setMaxInFlight(int n) {
            this.maxInFlight = n;
            return this;
        }

        public Builder setRequestTimeout(Duration d) {
            this.requestTimeout = d;
            return this;
        }

        public Builder optTokenEnv(String name) {
            this.tokenEnv = blankToNull(name);
            return this;
        }

        public Builder optTokenFile(String path) {
            this.tokenFile = blankToNull(path);
            return this;
        }

        public Builder optTrustStore(String path, String password) {
            this.trustStore = blankToNull(path);
            this.trustStorePassword = password;
            return this;
        }

        public Builder optGzipRequests(boolean gzip) {
            this.gzipRequests = gzip;
            return this;
        }

        public HttpRewardConfig build() {
            if (url == null || url.getScheme() == null || !(url.getScheme().equals("http") || url.getScheme().equals("https"))
                    || url.getHost() == null) {
                throw new IllegalArgumentException("the reward service url must be an absolute http:// or https:// URL, got " + url);
            }
            if (batchMaxResponses < 1 || maxInFlight < 1) {
                throw new IllegalArgumentException("batch-max-responses and max-in-flight must be >= 1");
            }
            if (batchMaxDelay == null || batchMaxDelay.isNegative()) {
                throw new IllegalArgumentException("batch-max-delay must be >= 0");
            }
            if (requestTimeout == null || requestTimeout.isNegative() || requestTimeout.isZero()) {
                throw new IllegalArgumentException("the request timeout must be positive");
            }
            if (tokenEnv != null && tokenFile != null) {
                throw new IllegalArgumentException("give the bearer token as token-env or token-file, not both");
            }
            String path = scoresPath != null ? scoresPath : "";
            if (!path.isEmpty() && !path.startsWith("/")) {
                throw new IllegalArgumentException("scores-path is a JSON pointer: empty (the whole body) or starting with '/', got '" + path + "'");
            }
            return new HttpRewardConfig(this);
        }

        private static String blankToNull(String s) {
            return s == null || s.isBlank() ? null : s;
        }
    }
}
