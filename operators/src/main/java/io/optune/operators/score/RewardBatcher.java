package io.optune.operators.score;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Groups items into requests of up to {@code maxResponses} responses, or fewer once the oldest
 * queued item has waited {@code maxDelayMs}, with at most {@code maxInFlight} requests outstanding
 * (free of Flink). {@link #submit} never blocks: it queues, and a request is sent from the caller's
 * thread, the timer thread or the thread that finished the previous request. An item with more
 * responses than {@code maxResponses} goes alone.
 */
final class RewardBatcher {
    private final Function<List<HttpRewardClient.Item>, CompletableFuture<List<HttpRewardClient.Scores>>> sender;
    private final int maxResponses;
    private final long maxDelayNanos;
    private final int maxInFlight;
    private final ScheduledExecutorService timer;

    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    private int queuedResponses;
    private int inFlight;
    private boolean timerArmed;
    private boolean closed;

    private record Pending(HttpRewardClient.Item item, CompletableFuture<HttpRewardClient.Scores> result, long arrivedAt) {}

    RewardBatcher(Function<List<HttpRewardClient.Item>, CompletableFuture<List<HttpRewardClient.Scores>>> sender,
            int maxResponses, long maxDelayMs, int maxInFlight, ScheduledExecutorService timer) {
        this.sender = sender;
        this.maxResponses = maxResponses;
        this.maxDelayNanos = TimeUnit.MILLISECONDS.toNanos(maxDelayMs);
        this.maxInFlight = maxInFlight;
        this.timer = timer;
    }

    /** Queues {@code item}; the future completes with its scores, or exceptionally when its request failed. */
    CompletableFuture<HttpRewardClient.Scores> submit(HttpRewardClient.Item item) {
        CompletableFuture<HttpRewardClient.Scores> f = new CompletableFuture<>();
        synchronized (this) {
            if (closed) {
                f.completeExceptionally(new IllegalStateException("the reward batcher is closed"));
                return f;
            }
            queue.add(new Pending(item, f, System.nanoTime()));
            queuedResponses += item.responses().size();
        }
        drain();
        return f;
    }

    synchronized int inFlight() {
        return inFlight;
    }

    synchronized int queued() {
        return queue.size();
    }

    private void drain() {
        List<List<Pending>> toSend = new ArrayList<>();
        synchronized (this) {
            long now = System.nanoTime();
            while (!closed && inFlight < maxInFlight && !queue.isEmpty()
                    && (queuedResponses >= maxResponses || now - queue.peek().arrivedAt() >= maxDelayNanos)) {
                List<Pending> batch = new ArrayList<>();
                int n = 0;
                while (!queue.isEmpty() && (batch.isEmpty() || n + queue.peek().item().responses().size() <= maxResponses)) {
                    Pending p = queue.poll();
                    n += p.item().responses().size();
                    batch.add(p);
                }
                queuedResponses -= n;
                inFlight++;
                toSend.add(batch);
            }
            // A partial batch waits for more items, at most until its oldest item is due.
            if (!closed && !queue.isEmpty() && !timerArmed && inFlight < maxInFlight) {
                long wait = Math.max(0, queue.peek().arrivedAt() + maxDelayNanos - now);
                timerArmed = true;
                timer.schedule(this::onTimer, wait, TimeUnit.NANOSECONDS);
            }
        }
        for (List<Pending> batch : toSend) {
            send(batch);
        }
    }

    private void onTimer() {
        synchronized (this) {
            timerArmed = false;
        }
        drain();
    }

    private void send(List<Pending> batch) {
        List<HttpRewardClient.Item> items = new ArrayList<>(batch.size());
        batch.forEach(p -> items.add(p.item()));
        CompletableFuture<List<HttpRewardClient.Scores>> f;
        try {
            f = sender.apply(items);
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((scores, err) -> {
            synchronized (this) {
                inFlight--;
            }
            for (int i = 0; i < batch.size(); i++) {
                if (err != null) {
                    batch.get(i).result().completeExceptionally(err instanceof CompletionException && err.getCause() != null ? err.getCause() : err);
                } else {
                    batch.get(i).result().complete(scores.get(i));
                }
            }
            drain();
        });
    }

    /** Fails what is still queued; requests in flight complete on their own. */
    void close() {
        List<Pending> left;
        synchronized (this) {
            closed = true;
            left = new ArrayList<>(queue);
            queue.clear();
        }
        left.forEach(p -> p.result().completeExceptionally(new IllegalStateException("the reward batcher closed")));
    }
}
