package io.optune.operators.score;

import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.Prompt;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.functions.source.legacy.SourceFunction;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The scoring step against a remote service with a fixed latency per request (docs/BENCHMARKS.md,
 * "Remote reward service"). The test server answers each request after {@code latency} ms and serves
 * at most C requests at once, so it allows at most C x batch / latency responses per second; the
 * benchmark measures scored responses/s through Flink's async operator ({@link AsyncScoreFunction},
 * max-in-flight C, batches of N responses) on a local mini cluster and reports the ratio, next to the
 * same client and batcher driven without Flink (what the machine allows: on a loaded machine thread
 * wake-ups, not the 50 ms, dominate).
 *
 * <p>Run with {@code bin/optune-bench-reward-http [latencyMs] [concurrency,...] [batch] [generations]}.
 */
public final class HttpRewardBenchmark {
    static final int K = 4; // responses per generation, as samples-per-prompt

    private HttpRewardBenchmark() {}

    public static void main(String[] args) throws Exception {
        long latency = args.length > 0 ? Long.parseLong(args[0]) : 50;
        String[] cs = (args.length > 1 ? args[1] : "2,4,8").split(",");
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        int generations = args.length > 3 ? Integer.parseInt(args[3]) : 3000;
        System.out.printf(Locale.ROOT, "| C | N | latency | bound C x N / latency | service time per request (in the server) "
                + "| the service allows C x N / service time | async operator | vs bound | vs service | same client without Flink "
                + "| vs service | responses per request | source paced at 0.8 x bound: achieved / asked |%n"
                + "|---|---|---|---|---|---|---|---|---|---|---|---|---|%n");
        for (String c : cs) {
            int conc = Integer.parseInt(c.trim());
            double bound = conc * batch * 1000.0 / latency;
            Result flink = run(latency, conc, batch, generations, 0);
            double allows = conc * batch * 1000.0 / flink.serviceMs;
            double raw = direct(latency, conc, batch, generations);
            // A generator producing at 80% of the bound must keep its pace: scoring is not its bottleneck.
            double asked = 0.8 * bound;
            Result paced = run(latency, conc, batch, generations, asked / K);
            System.out.printf(Locale.ROOT, "| %d | %d | %d ms | %.0f | %.1f ms | %.0f | %.0f | %.2f | %.2f | %.0f | %.2f | %.1f | %.0f / %.0f = %.2f |%n",
                    conc, batch, latency, bound, flink.serviceMs, allows, flink.responsesPerSecond, flink.responsesPerSecond / bound,
                    flink.responsesPerSecond / allows, raw, raw / allows, flink.meanBatch,
                    paced.sourceResponsesPerSecond, asked, paced.sourceResponsesPerSecond / asked);
        }
    }

    /**
     * The same client and batcher driven from a plain thread with the same number of generations
     * outstanding as the async operator's capacity: what this machine allows without Flink.
     */
    static double direct(long latency, int concurrency, int batch, int generations) throws Exception {
        try (RewardTestServer server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, concurrency)) {
            server.latency(latency);
            HttpRewardConfig config = HttpRewardConfig.builder(server.url()).setBatchMaxResponses(batch)
                    .setBatchMaxDelay(Duration.ofMillis(10)).setMaxInFlight(concurrency).setRequestTimeout(Duration.ofSeconds(10)).build();
            java.util.concurrent.ScheduledExecutorService timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
            try (HttpRewardClient client = new HttpRewardClient(config, null)) {
                RewardBatcher<HttpRewardClient.Item, HttpRewardClient.Scores> batcher = new RewardBatcher<>(client::score, batch, 10, concurrency, timer);
                java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(Math.max(16, 2 * concurrency * batch / K));
                Timeline.reset(generations);
                List<String> rs = new ArrayList<>();
                for (int k = 0; k < K; k++) {
                    rs.add("response " + k + " " + "x".repeat(20 + k));
                }
                java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(generations);
                for (int i = 0; i < generations; i++) {
                    slots.acquire();
                    batcher.submit(new HttpRewardClient.Item("p" + i, "prompt number " + i, null, rs)).whenComplete((r, e) -> {
                        Timeline.record();
                        slots.release();
                        done.countDown();
                    });
                }
                done.await(5, TimeUnit.MINUTES);
                return Timeline.steadyRate() * K;
            } finally {
                timer.shutdownNow();
            }
        }
    }

    record Result(double responsesPerSecond, double sourceResponsesPerSecond, double meanBatch, double serviceMs) {}

    static Result run(long latency, int concurrency, int batch, int generations, double paceGenerationsPerSecond) throws Exception {
        try (RewardTestServer server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, concurrency)) {
            server.latency(latency);
            HttpRewardConfig config = HttpRewardConfig.builder(server.url()).setBatchMaxResponses(batch)
                    .setBatchMaxDelay(Duration.ofMillis(10)).setMaxInFlight(concurrency).setRequestTimeout(Duration.ofSeconds(10)).build();
            Timeline.reset(generations);
            PacedSource.configure(generations, paceGenerationsPerSecond);
            Configuration conf = new Configuration();
            conf.set(PipelineOptions.GENERIC_TYPES, false);
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            env.setParallelism(1);
            DataStream<Generation> in = env.addSource(new PacedSource(), TypeInformation.of(Generation.class));
            // Room for C full requests queued behind C in flight.
            int capacity = Math.max(16, 2 * concurrency * batch / K);
            AsyncDataStream.unorderedWaitWithRetry(in, new AsyncScoreFunction(config), 60_000, TimeUnit.MILLISECONDS, capacity,
                            AsyncScoreFunction.retryStrategy(1, Duration.ofMillis(100), Duration.ofMillis(100)))
                    .returns(TypeInformation.of(ScoreResult.class))
                    .map(r -> {
                        if (!r.isScored()) {
                            throw new IllegalStateException("unscored: " + r.deadLetter());
                        }
                        Timeline.record();
                        return r;
                    }, TypeInformation.of(ScoreResult.class))
                    .sinkTo(new DiscardingSink<>());
            env.execute("reward-http-benchmark");
            double meanBatch = server.received().stream().mapToInt(RewardTestServer.Received::responses).average().orElse(0);
            return new Result(Timeline.steadyRate() * K, PacedSource.achievedRate() * K, meanBatch, server.meanServiceMillis());
        }
    }

    /** When each result arrived (this JVM runs the mini cluster); the rate between the 10th and 90th percentile. */
    static final class Timeline {
        private static long[] at = new long[0];
        private static final AtomicInteger N = new AtomicInteger();

        static void reset(int n) {
            at = new long[n];
            N.set(0);
        }

        static void record() {
            int i = N.getAndIncrement();
            if (i < at.length) {
                at[i] = System.nanoTime();
            }
        }

        static double steadyRate() {
            int n = Math.min(N.get(), at.length);
            int lo = n / 10;
            int hi = n * 9 / 10;
            return (hi - lo) / ((at[hi] - at[lo]) / 1e9);
        }
    }

    /** Emits synthetic generations, unthrottled or at a fixed rate; remembers the rate it achieved. */
    static final class PacedSource implements SourceFunction<Generation> {
        private static final long serialVersionUID = 1L;
        private static volatile int count;
        private static volatile double perSecond;
        private static volatile double achieved;
        private volatile boolean running = true;

        static void configure(int n, double generationsPerSecond) {
            count = n;
            perSecond = generationsPerSecond;
        }

        static double achievedRate() {
            return achieved;
        }

        @Override
        public void run(SourceContext<Generation> ctx) throws Exception {
            List<String> responses = new ArrayList<>();
            for (int k = 0; k < K; k++) {
                responses.add("response " + k + " " + "x".repeat(20 + k));
            }
            String[] rs = responses.toArray(new String[0]);
            long t0 = System.nanoTime();
            for (int i = 0; i < count && running; i++) {
                if (perSecond > 0) {
                    long due = t0 + (long) (i * 1e9 / perSecond);
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                }
                Prompt p = new Prompt("p" + i, "r" + i, "prompt number " + i, "", 0L);
                synchronized (ctx.getCheckpointLock()) {
                    ctx.collect(new Generation(new GenerationRequest(p, null, 0L), new int[] {1}, AsyncScoreFunctionTest.sampled(rs), 1L, 0));
                }
            }
            achieved = count / ((System.nanoTime() - t0) / 1e9);
        }

        @Override
        public void cancel() {
            running = false;
        }
    }
}
