package io.optune.engine;

import ai.djl.Device;
import ai.djl.engine.Engine;

import java.util.Locale;
import java.util.function.IntSupplier;

/**
 * Parses the device options ({@code cpu}, {@code gpu}, {@code gpu:N}) into a DJL {@link Device},
 * refusing at once, with the number of GPUs the engine sees, a GPU that is not there: DJL itself
 * would fail later, deep in the first tensor op, with a less helpful native error.
 */
public final class EngineDevice {
    private EngineDevice() {}

    /** The device {@code spec} names, checked against the GPUs the PyTorch engine sees. */
    public static Device parse(String spec) {
        return parse(spec, () -> Engine.getInstance().getGpuCount());
    }

    /**
     * Checks only the form of {@code spec} (no engine is started: for option validation in a client
     * that must not load native libraries); returns it normalised ({@code cpu}, {@code gpu:N}).
     */
    public static String checkSpec(String spec) {
        Device d = parse(spec, () -> Integer.MAX_VALUE);
        return d.isGpu() ? "gpu:" + d.getDeviceId() : "cpu";
    }

    /** As {@link #parse(String)} with the visible GPU count from {@code gpuCount} (for tests). */
    static Device parse(String spec, IntSupplier gpuCount) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("device is empty: use cpu, gpu or gpu:N");
        }
        String s = spec.trim().toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return Device.cpu();
        }
        int index;
        if (s.equals("gpu") || s.equals("cuda")) {
            index = 0;
        } else if (s.startsWith("gpu:") || s.startsWith("cuda:")) {
            String n = s.substring(s.indexOf(':') + 1);
            try {
                index = Integer.parseInt(n);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("device '" + spec + "': GPU index '" + n + "' is not a number");
            }
            if (index < 0) {
                throw new IllegalArgumentException("device '" + spec + "': GPU index must be >= 0");
            }
        } else {
            throw new IllegalArgumentException("unknown device '" + spec + "': use cpu, gpu or gpu:N");
        }
        int visible = gpuCount.getAsInt();
        if (visible == 0) {
            throw new IllegalArgumentException("device '" + spec + "' asks for a GPU, but the PyTorch engine sees none"
                    + " (CPU natives loaded, or CUDA_VISIBLE_DEVICES empty; see docs/GPU.md)");
        }
        if (index >= visible) {
            throw new IllegalArgumentException("device '" + spec + "' asks for GPU " + index + ", but the PyTorch engine sees "
                    + visible + " (gpu:0" + (visible > 1 ? " .. gpu:" + (visible - 1) : "") + ")");
        }
        return Device.gpu(index);
    }
}
