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
 * responses than {@code maxResponses} goes alone. Serves the remote service (requests over HTTP) and
 * in-job reward models (forward passes on one model thread) alike.
 *
 * @param <I> an item: one generation's responses to score
 * @param <S> what comes back for one item
 */
final class RewardBatcher<I extends RewardBatcher.Sized, S> {
    /** An item's weight in a request: its number of responses. */
    interface Sized {
        int responseCount();
    }

    private final Function<List<I>, CompletableFuture<List<S>>> sender;
    private final int maxResponses;
    private final long maxDelayNanos;
    private final int maxInFlight;
    private final ScheduledExecutorService timer;

    private final ArrayDeque<Pending<I, S>> queue = new ArrayDeque<>();
    private int queuedResponses;
    private int inFlight;
    private boolean timerArmed;
    private boolean closed;

    private record Pending<I, S>(I item, CompletableFuture<S> result, long arrivedAt) {}

    RewardBatcher(Function<List<I>, CompletableFuture<List<S>>> sender,
            int maxResponses, long maxDelayMs, int maxInFlight, ScheduledExecutorService timer) {
        this.sender = sender;
        this.maxResponses = maxResponses;
        this.maxDelayNanos = TimeUnit.MILLISECONDS.toNanos(maxDelayMs);
        this.maxInFlight = maxInFlight;
        this.timer = timer;
    }

    /** Queues {@code item}; the future completes with its scores, or exceptionally when its request failed. */
    CompletableFuture<S> submit(I item) {
        CompletableFuture<S> f = new CompletableFuture<>();
        synchronized (this) {
            if (closed) {
                f.completeExceptionally(new IllegalStateException("the reward batcher is closed"));
                return f;
            }
            queue.add(new Pending<>(item, f, System.nanoTime()));
            queuedResponses += item.responseCount();
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
        List<List<Pending<I, S>>> toSend = new ArrayList<>();
        synchronized (this) {
            long now = System.nanoTime();
            while (!closed && inFlight < maxInFlight && !queue.isEmpty()
                    && (queuedResponses >= maxResponses || now - queue.peek().arrivedAt() >= maxDelayNanos)) {
                List<Pending<I, S>> batch = new ArrayList<>();
                int n = 0;
                while (!queue.isEmpty() && (batch.isEmpty() || n + queue.peek().item().responseCount() <= maxResponses)) {
                    Pending<I, S> p = queue.poll();
                    n += p.item().responseCount();
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
        for (List<Pending<I, S>> batch : toSend) {
            send(batch);
        }
    }

    private void onTimer() {
        synchronized (this) {
            timerArmed = false;
        }
        drain();
    }

    private void send(List<Pending<I, S>> batch) {
        List<I> items = new ArrayList<>(batch.size());
        batch.forEach(p -> items.add(p.item()));
        CompletableFuture<List<S>> f;
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

    /**
     * Drops what is still queued without completing it; requests in flight complete on their own. The
     * operator closes after a checkpoint or savepoint that holds the queued elements (a drained end of
     * input waits for them first), so completing them here would only start retries into a task that is
     * shutting down: Flink's async operator then fails the stopping task (a savepoint "failed during
     * stopping").
     */
    void close() {
        synchronized (this) {
            closed = true;
            queue.clear();
        }
    }
}
