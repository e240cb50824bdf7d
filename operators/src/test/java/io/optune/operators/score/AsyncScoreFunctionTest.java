package io.optune.operators.score;

import io.optune.engine.tokenizer.ChatMessage;
import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.score.RewardTestServer.Behaviour;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.source.legacy.SourceFunction;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The async scorer inside Flink's async operator with Flink's retry strategy, on a mini cluster,
 * against the test server: what is retried, what is not, and how each failure ends.
 */
class AsyncScoreFunctionTest {
    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension();

    private RewardTestServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    static Generation generation(String id, Prompt prompt, String... responses) {
        return new Generation(new GenerationRequest(prompt, null, 0L), new int[] {1}, sampled(responses), 1L, 0);
    }

    /** Responses as the generator would carry them; only the text matters to a remote reward service. */
    static SampledResponse[] sampled(String... texts) {
        SampledResponse[] out = new SampledResponse[texts.length];
        for (int i = 0; i < texts.length; i++) {
            int[] ids = texts[i].chars().toArray();
            out[i] = new SampledResponse(ids, new float[ids.length], false, texts[i]);
        }
        return out;
    }

    static Generation text(String id, String... responses) {
        return generation(id, new Prompt(id, "req-" + id, "prompt " + id, "", 0L), responses);
    }

    private HttpRewardConfig.Builder config() {
        return HttpRewardConfig.builder(server.url()).setBatchMaxResponses(8).setBatchMaxDelay(Duration.ofMillis(200))
                .setMaxInFlight(4).setRequestTimeout(Duration.ofSeconds(5));
    }

    static List<ScoreResult> run(HttpRewardConfig c, int attempts, Duration operatorTimeout, List<Generation> in) throws Exception {
        return run(new AsyncScoreFunction(c), attempts, operatorTimeout, in);
    }

    /** {@code function} in Flink's async operator with our retry strategy, on the mini cluster: one result per generation. */
    static List<ScoreResult> run(org.apache.flink.streaming.api.functions.async.RichAsyncFunction<Generation, ScoreResult> function,
            int attempts, Duration operatorTimeout, List<Generation> in) throws Exception {
        Configuration conf = new Configuration();
        conf.set(PipelineOptions.GENERIC_TYPES, false); // an accidental Kryo type fails here
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(1);
        HeldOpenSource.reset(in);
        DataStream<Generation> gens = env.addSource(new HeldOpenSource(), TypeInformation.of(Generation.class));
        DataStream<ScoreResult> out = AsyncDataStream.unorderedWaitWithRetry(gens, function,
                operatorTimeout.toMillis(), TimeUnit.MILLISECONDS, 64,
                AsyncScoreFunction.retryStrategy(attempts, Duration.ofMillis(20), Duration.ofMillis(100)))
                .returns(TypeInformation.of(ScoreResult.class))
                .map(r -> {
                    HeldOpenSource.DONE.incrementAndGet();
                    return r;
                }, TypeInformation.of(ScoreResult.class));
        List<ScoreResult> results = new ArrayList<>();
        try (var it = out.executeAndCollect()) {
            it.forEachRemaining(results::add);
        }
        return results;
    }

    /**
     * Emits the generations, then stays open until every result is out: Flink's async operator turns
     * retries off once its input has ended, so a finished source would hide them.
     */
    static final class HeldOpenSource implements SourceFunction<Generation> {
        private static final long serialVersionUID = 1L;
        static final AtomicInteger DONE = new AtomicInteger();
        // Records are not Serializable: the items stay in this JVM, which runs the mini cluster.
        private static volatile List<Generation> items = List.of();
        private volatile boolean running = true;

        static void reset(List<Generation> in) {
            DONE.set(0);
            items = List.copyOf(in);
        }

        @Override
        public void run(SourceContext<Generation> ctx) throws Exception {
            for (Generation g : items) {
                synchronized (ctx.getCheckpointLock()) {
                    ctx.collect(g);
                }
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (running && DONE.get() < items.size() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
        }

        @Override
        public void cancel() {
            running = false;
        }
    }

    private static ScoreResult only(List<ScoreResult> r) {
        assertThat(r).hasSize(1);
        return r.get(0);
    }

    @Test
    void generationsShareRequestsAndEachGetsItsScores() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 4);
        List<Generation> in = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            in.add(text("p" + i, "a", "bb", "ccc", "d".repeat(4 + i)));
        }
        List<ScoreResult> out = run(config().build(), 1, Duration.ofSeconds(30), in);
        assertThat(out).hasSize(6).allSatisfy(r -> assertThat(r.isScored()).isTrue());
        for (ScoreResult r : out) {
            Generation g = r.scored().generation();
            double[] expected = java.util.Arrays.stream(g.responses()).mapToDouble(x -> x.text().length()).toArray();
            assertThat(r.scored().rewards()).containsExactly(expected);
        }
        assertThat(server.received()).allSatisfy(q -> assertThat(q.responses()).isLessThanOrEqualTo(8));
        assertThat(server.received().stream().mapToInt(RewardTestServer.Received::items).sum()).isEqualTo(6);
        assertThat(server.received().size()).as("requests for 6 generations").isLessThan(6);
    }

    @Test
    void teiScoresTextPromptsAndRefusesChatPrompts() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.TEI, 2);
        Generation chat = generation("c", new Prompt("c", "req-c", "", List.of(ChatMessage.user("hi")), "", 0L), "x", "yy");
        List<ScoreResult> out = run(config().setProtocol(HttpRewardConfig.Protocol.TEI).build(), 2, Duration.ofSeconds(30),
                List.of(text("t", "x", "yyy"), chat));
        ScoreResult t = out.stream().filter(ScoreResult::isScored).findFirst().orElseThrow();
        assertThat(t.scored().rewards()).containsExactly(1, 3);
        ScoreResult c = out.stream().filter(r -> !r.isScored()).findFirst().orElseThrow();
        assertThat(c.deadLetter().reason()).isEqualTo(ScoreFunction.UNSCORABLE);
        assertThat(c.deadLetter().requestId()).isEqualTo("req-c");
    }

    @Test
    void a500IsRetriedAndThenScores() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.STATUS, 1).status(500);
        ScoreResult r = only(run(config().build(), 3, Duration.ofSeconds(30), List.of(text("p", "a", "bb"))));
        assertThat(r.isScored()).isTrue();
        assertThat(server.received()).hasSize(2);
    }

    @Test
    void a429IsRetriedAndThenScores() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.STATUS, 2).status(429);
        ScoreResult r = only(run(config().build(), 3, Duration.ofSeconds(30), List.of(text("p", "a", "bb"))));
        assertThat(r.isScored()).isTrue();
        assertThat(r.scored().rewards()).containsExactly(1, 2);
        assertThat(server.received()).hasSize(3);
    }

    @Test
    void a400IsNotRetriedAndIsDeadLettered() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.STATUS).status(400);
        ScoreResult r = only(run(config().build(), 3, Duration.ofSeconds(30), List.of(text("p", "a", "bb"))));
        assertThat(r.deadLetter().reason()).isEqualTo("reward-http-status-400");
        assertThat(r.deadLetter().stage()).isEqualTo("score");
        assertThat(r.deadLetter().requestId()).isEqualTo("req-p");
        assertThat(server.received()).hasSize(1);
    }

    @Test
    void aSlowServerTimesOutIsRetriedThenDeadLettered() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.latency(4000);
        ScoreResult r = only(run(config().setRequestTimeout(Duration.ofMillis(1000)).build(), 2, Duration.ofSeconds(30),
                List.of(text("p", "a", "bb"))));
        assertThat(r.deadLetter().reason()).isEqualTo("reward-http-timeout");
        assertThat(server.received()).hasSize(2);
    }

    @Test
    void theOperatorTimeoutEndsAHangingCallAsADeadLetterNotAJobFailure() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.HANG);
        ScoreResult r = only(run(config().setRequestTimeout(Duration.ofSeconds(60)).build(), 3, Duration.ofMillis(800),
                List.of(text("p", "a", "bb"))));
        assertThat(r.deadLetter().reason()).isEqualTo("reward-http-timeout");
        assertThat(r.deadLetter().detail()).contains("scoring timeout");
    }

    @Test
    void garbageIsRetriedThenDeadLetteredAsMalformed() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.GARBAGE);
        ScoreResult r = only(run(config().build(), 2, Duration.ofSeconds(30), List.of(text("p", "a", "bb"))));
        assertThat(r.deadLetter().reason()).isEqualTo("reward-http-malformed");
        assertThat(server.received()).hasSize(2);
    }

    @Test
    void aCorruptGzipAnswerIsRetriedThenDeadLetteredAsMalformed() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.BAD_GZIP);
        ScoreResult r = only(run(config().build(), 2, Duration.ofSeconds(30), List.of(text("p", "a", "bb"))));
        assertThat(r.deadLetter().reason()).isEqualTo("reward-http-malformed");
        assertThat(r.deadLetter().detail()).contains("gzipped answer").contains("corrupt");
        assertThat(server.received()).hasSize(2);
    }

    @Test
    void wrongLengthIsDeadLetteredWithoutRetry() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.WRONG_LENGTH);
        ScoreResult r = only(run(config().build(), 3, Duration.ofSeconds(30), List.of(text("p", "a", "bb"))));
        assertThat(r.deadLetter().reason()).isEqualTo("reward-http-wrong-length");
        assertThat(server.received()).hasSize(1);
    }

    @Test
    void aClosedConnectionIsRetried() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.CLOSE, 1);
        ScoreResult r = only(run(config().build(), 3, Duration.ofSeconds(30), List.of(text("p", "a", "bb"))));
        assertThat(r.isScored()).isTrue();
        assertThat(server.received()).hasSize(2);
    }

    @Test
    void aRefusedConnectionEndsAsRefused() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        HttpRewardConfig c = HttpRewardConfig.builder(URI.create("http://127.0.0.1:" + port + "/score")).build();
        ScoreResult r = only(run(c, 2, Duration.ofSeconds(30), List.of(text("p", "a", "bb"))));
        assertThat(r.deadLetter().reason()).isEqualTo("reward-http-refused");
    }

    @Test
    void nonFiniteScoresDropTheirResponsesAndTooFewLeftIsADeadLetter() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.NAN); // the first response of every prompt gets NaN
        List<ScoreResult> out = run(config().build(), 2, Duration.ofSeconds(30),
                List.of(text("four", "a", "bb", "ccc", "dddd"), text("two", "a", "bb")));
        ScoreResult four = out.stream().filter(ScoreResult::isScored).findFirst().orElseThrow();
        assertThat(four.scored().generation().responses()).extracting(SampledResponse::text).containsExactly("bb", "ccc", "dddd");
        assertThat(four.scored().rewards()).containsExactly(2, 3, 4);
        ScoreResult two = out.stream().filter(r -> !r.isScored()).findFirst().orElseThrow();
        assertThat(two.deadLetter().reason()).isEqualTo("non-finite-reward");
        assertThat(two.deadLetter().promptId()).isEqualTo("two");
    }

    @Test
    void infiniteScoresAreDroppedLikeNaN() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(Behaviour.INFINITE); // the first response of every prompt gets Infinity
        List<ScoreResult> out = run(config().build(), 2, Duration.ofSeconds(30),
                List.of(text("four", "a", "bb", "ccc", "dddd"), text("two", "a", "bb")));
        assertThat(out).hasSize(2);
        ScoreResult four = out.stream().filter(ScoreResult::isScored).findFirst().orElseThrow();
        assertThat(four.scored().generation().responses()).extracting(SampledResponse::text).containsExactly("bb", "ccc", "dddd");
        ScoreResult two = out.stream().filter(r -> !r.isScored()).findFirst().orElseThrow();
        assertThat(two.deadLetter().reason()).isEqualTo("non-finite-reward");
    }
}
