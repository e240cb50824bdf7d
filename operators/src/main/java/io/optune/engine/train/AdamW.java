package io.optune.engine.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.optune.engine.model.TransformerLM;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * AdamW over a {@link TransformerLM}'s named parameters. Its moments are plain named arrays (not
 * hidden inside a DJL optimizer) so that a checkpoint can carry them and a restore continues
 * bit-exactly. Also owns gradient clipping and the non-finite guard.
 */
public final class AdamW implements AutoCloseable {
    private final TransformerLM model;
    private final AdamWConfig config;
    private final NDManager manager;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private final List<String> decayed;
    private long step;

    public AdamW(TransformerLM model, AdamWConfig config) {
        this.model = model;
        this.config = config;
        this.manager = model.manager().newSubManager();
        this.decayed = model.decayedParameters();
        model.parameters().forEach((k, p) -> {
            m.put(k, manager.zeros(p.getShape()));
            v.put(k, manager.zeros(p.getShape()));
        });
    }

    public AdamWConfig config() {
        return config;
    }

    public long step() {
        return step;
    }

    public void setStep(long step) {
        this.step = step;
    }

    public Map<String, NDArray> firstMoments() {
        return m;
    }

    public Map<String, NDArray> secondMoments() {
        return v;
    }

    /**
     * Takes over restored moments (arrays of the model's shapes; they move to this optimizer's
     * manager, no copy), replacing the current ones.
     */
    public void replaceMoments(Map<String, NDArray> first, Map<String, NDArray> second) {
        for (Map.Entry<String, NDArray> e : m.entrySet()) {
            String name = e.getKey();
            NDArray a = first.get(name);
            NDArray b = second.get(name);
            if (a == null || b == null || !a.getShape().equals(e.getValue().getShape()) || !b.getShape().equals(e.getValue().getShape())) {
                throw new IllegalArgumentException("restored optimizer moments lack '" + name + "' or differ in shape");
            }
        }
        for (String name : new java.util.ArrayList<>(m.keySet())) {
            NDArray a = first.get(name);
            NDArray b = second.get(name);
            a.attach(manager);
            b.attach(manager);
            m.put(name, a).close();
            v.put(name, b).close();
        }
    }

    /**
     * Sets this model's gradients to zero (PyTorch accumulates them). Not DJL's
     * {@code GradientCollector.zeroGradients()}: that walks every array of the engine, including
     * arrays other threads (other Flink operators) are creating and closing at the same time.
     * Assignment rather than multiplication, so NaN gradients of a skipped step are cleared too.
     */
    public void zeroGradients() {
        io.optune.engine.GradMode.off();
        try (NDManager tmp = manager.newSubManager()) {
            for (NDArray p : model.parameters().values()) {
                NDArray g = p.getGradient();
                g.attach(tmp);
                g.set(new ai.djl.ndarray.index.NDIndex("..."), 0f);
            }
        }
    }

    /** The outcome of {@link #minimize}. */
    public record Step(double loss, double gradNorm, boolean skipped) {}

    /**
     * One guarded optimisation step: zero the gradients, evaluate {@code loss} under a gradient
     * collector, back-propagate, and update unless the loss or the gradient norm is not finite (then
     * nothing changes and {@code skipped} is true).
     */
    public Step minimize(Supplier<NDArray> loss) {
        zeroGradients();
        return finish(accumulate(loss));
    }

    /**
     * Evaluates {@code loss} under a gradient collector and back-propagates, adding to the current
     * gradients (for gradient accumulation over micro-batches); returns the loss value.
     */
    public double accumulate(Supplier<NDArray> loss) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray l = loss.get();
            gc.backward(l);
            return l.getFloat();
        }
    }

    /** Updates with the accumulated gradients unless {@code lossValue} or their norm is not finite. */
    public Step finish(double lossValue) {
        double norm = gradientNorm();
        if (!Double.isFinite(lossValue) || !Double.isFinite(norm)) {
            return new Step(lossValue, norm, true);
        }
        update(norm);
        return new Step(lossValue, norm, false);
    }

    /** Global L2 norm of all gradients (may be NaN or infinite). */
    public double gradientNorm() {
        double sq = 0;
        try (NDManager tmp = manager.newSubManager()) {
            for (NDArray p : model.parameters().values()) {
                NDArray g = p.getGradient(); // a new handle per call: attach it so it is freed
                g.attach(tmp);
                sq += g.square().sum().getFloat();
            }
        }
        return Math.sqrt(sq);
    }

    /**
     * One update with the current gradients, clipped to {@code maxGradNorm} given their norm.
     * Runs outside autograd: these in-place ops are not recorded.
     */
    public void update(double gradNorm) {
        io.optune.engine.GradMode.off();
        step++;
        float lr = config.learningRateAt(step);
        float clip = config.maxGradNorm() > 0 && gradNorm > config.maxGradNorm()
                ? (float) (config.maxGradNorm() / gradNorm) : 1f;
        float b1 = config.beta1();
        float b2 = config.beta2();
        float bc1 = (float) (1 - Math.pow(b1, step));
        float bc2 = (float) (1 - Math.pow(b2, step));
        try (NDManager tmp = manager.newSubManager()) {
            for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
                String name = e.getKey();
                NDArray p = e.getValue();
                NDArray g = p.getGradient();
                g.attach(tmp);
                if (clip != 1f) {
                    g.muli(clip);
                }
                NDArray mi = m.get(name);
                NDArray vi = v.get(name);
                mi.muli(b1).addi(g.mul(1 - b1));
                vi.muli(b2).addi(g.square().muli(1 - b2));
                NDArray scaled = vi.div(bc2);
                scaled.attach(tmp);
                NDArray denom = scaled.sqrt().addi(config.epsilon());
                NDArray update = mi.div(bc1);
                update.attach(tmp);
                update.divi(denom);
                if (config.weightDecay() > 0 && decayed.contains(name)) {
                    NDArray decay = p.mul(config.weightDecay());
                    decay.attach(tmp);
                    update.addi(decay);
                }
                p.subi(update.muli(lr));
            }
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
