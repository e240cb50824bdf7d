package io.optune.engine;

import ai.djl.pytorch.jni.JniUtils;

/**
 * PyTorch's autograd switch is per thread and on by default. DJL turns it off only on the thread
 * that starts the engine, and a {@code GradientCollector} leaves it on when it found it on, so on a
 * Flink task thread every forward would build a graph and in-place parameter updates would fail.
 * Engine entry points call {@link #off()} first; gradient collectors switch it on for their scope.
 */
public final class GradMode {
    private GradMode() {}

    public static void off() {
        JniUtils.setGradMode(false);
    }
}
