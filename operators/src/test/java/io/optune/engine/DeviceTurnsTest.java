package io.optune.engine;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class DeviceTurnsTest {

    @Test
    void colocatedWorkOnOneDeviceNeverOverlaps() throws Exception {
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger mostInside = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            Thread th = new Thread(() -> {
                for (int i = 0; i < 50; i++) {
                    try (DeviceTurns.Turn turn = DeviceTurns.take("gpu:3", true)) {
                        mostInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
                        long until = System.nanoTime() + 20_000; // long enough for the others to try to enter
                        while (System.nanoTime() < until) {
                            Thread.onSpinWait();
                        }
                        inside.decrementAndGet();
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) {
            th.join();
        }
        assertThat(mostInside.get()).isEqualTo(1);
    }

    @Test
    void withoutColocationNothingIsHeldAndOtherDevicesNeverWait() throws Exception {
        try (DeviceTurns.Turn held = DeviceTurns.take("gpu:5", true)) {
            CountDownLatch done = new CountDownLatch(2);
            Thread other = new Thread(() -> {
                try (DeviceTurns.Turn a = DeviceTurns.take("gpu:6", true); DeviceTurns.Turn b = DeviceTurns.take("gpu:5", false)) {
                    assertThat(b).isSameAs(DeviceTurns.NONE);
                    done.countDown();
                    done.countDown();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            other.start();
            assertThat(done.await(10, TimeUnit.SECONDS)).as("a turn on another device, and no turn, while gpu:5 is held").isTrue();
            other.join();
        }
    }

    @Test
    void tryTakeGetsAFreeDeviceAtOnceAndNeverWaitsForABusyOne() throws Exception {
        try (DeviceTurns.Turn free = DeviceTurns.tryTake("gpu:8")) {
            assertThat(free).isNotNull();
            java.util.concurrent.CompletableFuture<DeviceTurns.Turn> other =
                    java.util.concurrent.CompletableFuture.supplyAsync(() -> DeviceTurns.tryTake("gpu:8"));
            assertThat(other.get(10, TimeUnit.SECONDS)).as("busy: no turn, no wait").isNull();
        }
        java.util.concurrent.CompletableFuture<Boolean> afterRelease = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            DeviceTurns.Turn t = DeviceTurns.tryTake("gpu:8");
            if (t != null) {
                t.close();
            }
            return t != null;
        });
        assertThat(afterRelease.get(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void turnsAreGrantedInTheOrderTheyWereAskedFor() throws Exception {
        List<Integer> order = java.util.Collections.synchronizedList(new ArrayList<>());
        List<Thread> waiters = new ArrayList<>();
        try (DeviceTurns.Turn held = DeviceTurns.take("gpu:7", true)) {
            for (int i = 0; i < 3; i++) {
                int id = i;
                Thread w = new Thread(() -> {
                    try (DeviceTurns.Turn t = DeviceTurns.take("gpu:7", true)) {
                        order.add(id);
                        assertThat(t.waitedMs()).isGreaterThanOrEqualTo(0);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
                w.start();
                waiters.add(w);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (DeviceTurns.waiting("gpu:7") < i + 1 && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
                assertThat(DeviceTurns.waiting("gpu:7")).isEqualTo(i + 1);
            }
        }
        for (Thread w : waiters) {
            w.join();
        }
        // A fair turn: the generator that asked first goes first, so neither role starves the other.
        assertThat(order).containsExactly(0, 1, 2);
    }
}
