package io.optune.operators.score;

import io.optune.engine.tokenizer.ChatMessage;
import io.optune.operators.score.RewardTestServer.Behaviour;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The client against a real HTTP server on 127.0.0.1: each failure ends as a reason, retriable or not. */
class HttpRewardClientTest {
    private static final List<HttpRewardClient.Item> ITEMS = List.of(
            new HttpRewardClient.Item("p1", "rev abc=", null, List.of("cba", "ab")),
            new HttpRewardClient.Item("p2", null, List.of(ChatMessage.user("hi")), List.of("hello", "h", "hey")));

    @TempDir
    Path dir;

    private RewardTestServer server;
    private HttpRewardClient client;

    @AfterEach
    void stop() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private HttpRewardConfig.Builder config() {
        return HttpRewardConfig.builder(server.url()).setRequestTimeout(Duration.ofSeconds(5));
    }

    private List<HttpRewardClient.Scores> call(HttpRewardConfig c, List<HttpRewardClient.Item> items) throws Exception {
        if (client != null) {
            client.close();
        }
        client = new HttpRewardClient(c, null, Map.of("RM_TOKEN", "tok-" + "env")::get);
        return client.score(items).get(30, TimeUnit.SECONDS);
    }

    private RewardHttpException failure(HttpRewardConfig c, List<HttpRewardClient.Item> items) {
        try {
            call(c, items);
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(RewardHttpException.class);
            return (RewardHttpException) e.getCause();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        throw new AssertionError("the call did not fail");
    }

    @Test
    void optuneProtocolSendsPromptsOrMessagesAndReadsOneScoreListPerRequest() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        List<HttpRewardClient.Scores> s = call(config().build(), ITEMS);
        assertThat(s.get(0).values()).containsExactly(3, 2);
        assertThat(s.get(1).values()).containsExactly(5, 1, 3);
        var body = server.received().get(0).body();
        assertThat(body.at("/requests/0/id").asText()).isEqualTo("p1");
        assertThat(body.at("/requests/0/prompt").asText()).isEqualTo("rev abc=");
        assertThat(body.at("/requests/1/messages/0/role").asText()).isEqualTo("user");
        assertThat(body.at("/requests/1/responses").size()).isEqualTo(3);
    }

    @Test
    void teiProtocolSendsPairsAndMapsThemBack() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.TEI, 2);
        List<HttpRewardClient.Item> text = List.of(ITEMS.get(0), new HttpRewardClient.Item("p3", "add 1+2=", null, List.of("3", "33", "333")));
        List<HttpRewardClient.Scores> s = call(config().setProtocol(HttpRewardConfig.Protocol.TEI).build(), text);
        assertThat(s.get(0).values()).containsExactly(3, 2);
        assertThat(s.get(1).values()).containsExactly(1, 2, 3);
        var body = server.received().get(0).body();
        assertThat(body.at("/inputs").size()).isEqualTo(5);
        assertThat(body.at("/inputs/2/0").asText()).isEqualTo("add 1+2=");
        assertThat(body.at("/inputs/2/1").asText()).isEqualTo("3");
        assertThat(body.at("/raw_scores").asBoolean()).isTrue();
    }

    @Test
    void teiLabelIsConfigurationAndAMissingLabelIsMalformed() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.TEI, 2);
        assertThat(call(config().setProtocol(HttpRewardConfig.Protocol.TEI).optTeiLabel("LABEL_0").build(), List.of(ITEMS.get(0)))
                .get(0).values()).containsExactly(3, 2);
        client.close();
        RewardHttpException e = failure(config().setProtocol(HttpRewardConfig.Protocol.TEI).optTeiLabel("helpful").build(), List.of(ITEMS.get(0)));
        assertThat(e.reason()).isEqualTo("reward-http-malformed");
        assertThat(e.getMessage()).contains("no label 'helpful'");
    }

    @Test
    void scoresPathIsConfiguration() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        RewardHttpException e = failure(config().optScoresPath("/rewards").build(), ITEMS);
        assertThat(e.reason()).isEqualTo("reward-http-malformed");
        assertThat(e.getMessage()).contains("no array at '/rewards'");
    }

    @Test
    void statusCodesSayWhetherARetryMayHelp() {
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.OPTUNE);
        server.behave(Behaviour.STATUS).status(503);
        RewardHttpException e = failure(config().build(), ITEMS);
        assertThat(e.reason()).isEqualTo("reward-http-status-503");
        assertThat(e.retriable()).isTrue();
        server.status(429);
        assertThat(failure(config().build(), ITEMS).retriable()).isTrue();
        server.status(400);
        e = failure(config().build(), ITEMS);
        assertThat(e.reason()).isEqualTo("reward-http-status-400");
        assertThat(e.retriable()).isFalse();
        assertThat(e.getMessage()).contains("told to fail");
    }

    @Test
    void refusedConnectionIsRetriable() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        client = new HttpRewardClient(HttpRewardConfig.builder(URI.create("http://127.0.0.1:" + port + "/score")).build(), null);
        assertThatThrownBy(() -> client.score(ITEMS).get(30, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(RewardHttpException.class, e -> {
                    assertThat(e.reason()).isEqualTo("reward-http-refused");
                    assertThat(e.retriable()).isTrue();
                });
    }

    @Test
    void connectionClosedMidAnswerIsRetriable() {
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.OPTUNE);
        server.behave(Behaviour.CLOSE);
        RewardHttpException e = failure(config().build(), ITEMS);
        assertThat(e.reason()).isEqualTo("reward-http-connection");
        assertThat(e.retriable()).isTrue();
    }

    @Test
    void hangingServerTimesOut() {
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.OPTUNE);
        server.behave(Behaviour.HANG);
        long t0 = System.nanoTime();
        RewardHttpException e = failure(config().setRequestTimeout(Duration.ofMillis(300)).build(), ITEMS);
        assertThat(e.reason()).isEqualTo("reward-http-timeout");
        assertThat(e.retriable()).isTrue();
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isLessThan(10_000);
    }

    @Test
    void garbageIsMalformed() {
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.OPTUNE);
        server.behave(Behaviour.GARBAGE);
        RewardHttpException e = failure(config().build(), ITEMS);
        assertThat(e.reason()).isEqualTo("reward-http-malformed");
        assertThat(e.getMessage()).contains("not json");
    }

    @Test
    void wrongLengthIsNotRetriedAndNamesThePrompt() throws Exception {
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.OPTUNE);
        server.behave(Behaviour.WRONG_LENGTH);
        List<HttpRewardClient.Scores> s = call(config().build(), ITEMS);
        assertThat(s).allSatisfy(x -> {
            assertThat(x.values()).isNull();
            assertThat(x.error().reason()).isEqualTo("reward-http-wrong-length");
            assertThat(x.error().retriable()).isFalse();
        });
        assertThat(s.get(1).error().getMessage()).contains("4 scores for the 3 responses of prompt p2");
        client.close();
        server.close();
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.TEI);
        server.behave(Behaviour.WRONG_LENGTH);
        RewardHttpException e = failure(config().setProtocol(HttpRewardConfig.Protocol.TEI).build(), List.of(ITEMS.get(0)));
        assertThat(e.reason()).isEqualTo("reward-http-wrong-length");
    }

    @Test
    void nanScoresArriveAsNonFiniteValues() throws Exception {
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.OPTUNE);
        server.behave(Behaviour.NAN);
        List<HttpRewardClient.Scores> s = call(config().build(), ITEMS);
        assertThat(s.get(0).values()[0]).isNaN();
        assertThat(s.get(0).values()[1]).isEqualTo(2);
    }

    @Test
    void requestsOneAfterAnotherShareOneKeptAliveConnection() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        client = new HttpRewardClient(config().build(), null);
        for (int i = 0; i < 10; i++) {
            client.score(ITEMS).get(30, TimeUnit.SECONDS);
        }
        assertThat(server.received()).hasSize(10);
        assertThat(server.connections()).as("TCP connections for 10 sequential requests").isEqualTo(1);
    }

    @Test
    void gzipBothWays() throws Exception {
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.OPTUNE);
        server.gzipAnswers(true);
        List<HttpRewardClient.Scores> s = call(config().optGzipRequests(true).build(), ITEMS);
        assertThat(s.get(1).values()).containsExactly(5, 1, 3);
        assertThat(server.received().get(0).contentEncoding()).isEqualTo("gzip");
    }

    @Test
    void bearerTokenFromAFileOrTheEnvironmentIsSentAndNeverShown() throws Exception {
        String token = "secret-" + UUID.randomUUID();
        Path file = dir.resolve("token");
        Files.writeString(file, token + "\n"); // as a mounted Secret may end
        server = RewardTestServer.start0(HttpRewardConfig.Protocol.OPTUNE);
        HttpRewardConfig c = config().optTokenFile(file.toString()).build();
        call(c, ITEMS);
        assertThat(server.received().get(0).authorization()).isEqualTo("Bearer " + token);
        assertThat(c.toString()).doesNotContain(token).contains("file:" + file);

        server.behave(Behaviour.STATUS).status(401).echoAuthorization(true);
        RewardHttpException e = failure(c, ITEMS);
        assertThat(e.reason()).isEqualTo("reward-http-status-401");
        assertThat(e.getMessage()).contains("***").doesNotContain(token);

        server.behave(Behaviour.OK);
        call(config().optTokenEnv("RM_TOKEN").build(), ITEMS);
        assertThat(server.received().get(server.received().size() - 1).authorization()).isEqualTo("Bearer tok-env");
        assertThatThrownBy(() -> new HttpRewardClient(config().optTokenEnv("NO_SUCH_VARIABLE_" + UUID.randomUUID().toString().replace('-', '_')).build(), null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is not set");
    }

    @Test
    void httpsWithASelfSignedCertificateAndATrustStore() throws Exception {
        TestKeys keys = TestKeys.create(dir);
        server = RewardTestServer.startTls(HttpRewardConfig.Protocol.OPTUNE, keys.keystore(), keys.password());
        List<HttpRewardClient.Scores> s = call(config().optTrustStore(keys.truststore().toString(), keys.password()).build(), ITEMS);
        assertThat(s.get(0).values()).containsExactly(3, 2);
        client.close();
        // Without the trust store the certificate is refused, and that is not retried.
        RewardHttpException e = failure(config().build(), ITEMS);
        assertThat(e.retriable()).isFalse();
        assertThat(e.reason()).isIn("reward-http-tls", "reward-http-connection");
    }

    @Test
    void configurationIsCheckedOnce() {
        assertThatThrownBy(() -> HttpRewardConfig.builder(URI.create("ftp://x/")).build()).hasMessageContaining("http://");
        assertThatThrownBy(() -> HttpRewardConfig.builder(URI.create("http://x/")).setBatchMaxResponses(0).build())
                .hasMessageContaining("batch-max-responses");
        assertThatThrownBy(() -> HttpRewardConfig.builder(URI.create("http://x/")).optTokenEnv("A").optTokenFile("/b").build())
                .hasMessageContaining("not both");
        assertThatThrownBy(() -> HttpRewardConfig.builder(URI.create("http://x/")).optScoresPath("scores").build())
                .hasMessageContaining("JSON pointer");
    }
}
