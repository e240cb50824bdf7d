package io.optune.operators.score;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The batching layer with a sender the test answers by hand: N and T limits, the in-flight bound, failures. */
class RewardBatcherTest {
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final List<List<HttpRewardClient.Item>> sent = Collections.synchronizedList(new ArrayList<>());
    private final List<CompletableFuture<List<HttpRewardClient.Scores>>> answers = Collections.synchronizedList(new ArrayList<>());

    @AfterEach
    void stop() {
        timer.shutdownNow();
    }

    private CompletableFuture<List<HttpRewardClient.Scores>> send(List<HttpRewardClient.Item> items) {
        CompletableFuture<List<HttpRewardClient.Scores>> f = new CompletableFuture<>();
        sent.add(items);
        answers.add(f);
        return f;
    }

    private static HttpRewardClient.Item item(String id, int responses) {
        List<String> r = new ArrayList<>();
        for (int i = 0; i < responses; i++) {
            r.add(id + i);
        }
        return new HttpRewardClient.Item(id, "p", null, r);
    }

    /** Answers request {@code i} with score = position of the item in its request. */
    private void answer(int i) {
        List<HttpRewardClient.Scores> s = new ArrayList<>();
        for (int k = 0; k < sent.get(i).size(); k++) {
            s.add(new HttpRewardClient.Scores(new double[] {i, k}, null));
        }
        answers.get(i).complete(s);
    }

    private static List<String> ids(List<HttpRewardClient.Item> items) {
        return items.stream().map(HttpRewardClient.Item::id).toList();
    }

    @Test
    void fullBatchesGoAtOnceAndEachItemGetsItsOwnScores() throws Exception {
        RewardBatcher<HttpRewardClient.Item, HttpRewardClient.Scores> b = new RewardBatcher<>(this::send, 4, TimeUnit.HOURS.toMillis(1), 10, timer);
        List<CompletableFuture<HttpRewardClient.Scores>> f = new ArrayList<>();
        for (String id : List.of("a", "b", "c", "d", "e")) {
            f.add(b.submit(item(id, 2)));
        }
        assertThat(sent).hasSize(2);
        assertThat(ids(sent.get(0))).containsExactly("a", "b");
        assertThat(ids(sent.get(1))).containsExactly("c", "d");
        assertThat(b.queued()).isEqualTo(1);
        assertThat(b.inFlight()).isEqualTo(2);
        answer(1);
        assertThat(f.get(3).get().values()).containsExactly(1, 1);
        assertThat(f.get(2).get().values()).containsExactly(1, 0);
        assertThat(f.get(0)).isNotDone();
        assertThat(b.inFlight()).isEqualTo(1);
    }

    @Test
    void aPartialBatchGoesWhenItsOldestItemIsDue() throws Exception {
        RewardBatcher<HttpRewardClient.Item, HttpRewardClient.Scores> b = new RewardBatcher<>(this::send, 100, 150, 10, timer);
        long t0 = System.nanoTime();
        b.submit(item("a", 2));
        b.submit(item("b", 2));
        b.submit(item("c", 2));
        assertThat(sent).isEmpty();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (sent.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isGreaterThanOrEqualTo(150);
        assertThat(sent).hasSize(1);
        assertThat(ids(sent.get(0))).containsExactly("a", "b", "c");
    }

    @Test
    void requestsInFlightAreBoundedAndTheQueueDrainsAsAnswersArrive() throws Exception {
        RewardBatcher<HttpRewardClient.Item, HttpRewardClient.Scores> b = new RewardBatcher<>(this::send, 2, 0, 1, timer);
        var fa = b.submit(item("a", 2));
        var fb = b.submit(item("b", 2));
        b.submit(item("c", 2));
        assertThat(sent).hasSize(1);
        assertThat(b.queued()).isEqualTo(2);
        answer(0);
        assertThat(fa.get().values()).containsExactly(0, 0);
        assertThat(sent).hasSize(2);
        assertThat(ids(sent.get(1))).containsExactly("b");
        answer(1);
        assertThat(fb.get().values()).containsExactly(1, 0);
        assertThat(sent).hasSize(3);
        assertThat(b.queued()).isZero();
    }

    @Test
    void anItemLargerThanTheBatchGoesAlone() {
        RewardBatcher<HttpRewardClient.Item, HttpRewardClient.Scores> b = new RewardBatcher<>(this::send, 2, TimeUnit.HOURS.toMillis(1), 4, timer);
        b.submit(item("big", 5));
        b.submit(item("x", 1));
        assertThat(sent).hasSize(1);
        assertThat(ids(sent.get(0))).containsExactly("big");
    }

    @Test
    void aFailedRequestFailsEveryItemInIt() {
        RewardBatcher<HttpRewardClient.Item, HttpRewardClient.Scores> b = new RewardBatcher<>(this::send, 4, TimeUnit.HOURS.toMillis(1), 4, timer);
        var fa = b.submit(item("a", 2));
        var fb = b.submit(item("b", 2));
        answers.get(0).completeExceptionally(new RewardHttpException("reward-http-status-503", true, "503"));
        for (var f : List.of(fa, fb)) {
            assertThatThrownBy(f::get).isInstanceOf(ExecutionException.class).cause()
                    .isInstanceOfSatisfying(RewardHttpException.class, e -> assertThat(e.reason()).isEqualTo("reward-http-status-503"));
        }
        assertThat(b.inFlight()).isZero();
    }

    @Test
    void closingDropsWhatIsQueuedWithoutCompletingIt() {
        // Completing it would start the async operator's retries in a task that is closing (it then fails the stop).
        RewardBatcher<HttpRewardClient.Item, HttpRewardClient.Scores> b = new RewardBatcher<>(this::send, 100, TimeUnit.HOURS.toMillis(1), 4, timer);
        var f = b.submit(item("a", 2));
        b.close();
        assertThat(f).isNotDone();
        assertThat(b.submit(item("b", 2))).isCompletedExceptionally();
        assertThat(sent).isEmpty();
    }
}
