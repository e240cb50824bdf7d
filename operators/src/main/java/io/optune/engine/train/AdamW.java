package io.optune.engine.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import io.optune.engine.model.TransformerLM;

import java.util.LinkedHashMap;
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
    private final java.util.Set<String> decayed;
    private long step;

    public AdamW(TransformerLM model, AdamWConfig config) {
        this.model = model;
        this.config = config;
        this.manager = model.manager().newSubManager();
        this.decayed = new java.util.HashSet<>(model.decayedParameters());
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
        return finish(lossValue, 1f);
    }

    /**
     * As {@link #finish(double)} for gradients of a loss multiplied by {@code gradScale} (loss
     * scaling): the norm reported and clipped against is the unscaled one, and the update divides
     * the scale out (folded into the clipping factor, no extra pass).
     */
    public Step finish(double lossValue, float gradScale) {
        double norm = gradientNorm() / gradScale;
        if (!Double.isFinite(lossValue) || !Double.isFinite(norm)) {
            return new Step(lossValue, norm, true);
        }
        update(norm, 1f / gradScale);
        return new Step(lossValue, norm, false);
    }

    /**
     * Global L2 norm of all gradients (may be NaN or infinite). One host sync for the whole model:
     * the per-parameter norms are stacked on the engine and reduced there.
     */
    public double gradientNorm() {
        try (NDManager tmp = manager.newSubManager()) {
            NDList norms = new NDList(model.parameters().size());
            for (NDArray p : model.parameters().values()) {
                NDArray g = p.getGradient(); // a new handle per call: attach it so it is freed
                g.attach(tmp);
                norms.add(g.norm());
            }
            NDArray all = NDArrays.stack(norms);
            return all.toType(DataType.FLOAT64, false).square().sum().sqrt().getDouble();
        }
    }

    /**
     * One update with the current gradients, clipped to {@code maxGradNorm} given their norm.
     * Runs outside autograd: these in-place ops are not recorded.
     */
    public void update(double gradNorm) {
        update(gradNorm, 1f);
    }

    /** As {@link #update(double)} for gradients {@code 1 / invScale} times the true ones. */
    public void update(double gradNorm, float invScale) {
        io.optune.engine.GradMode.off();
        step++;
        float lr = config.learningRateAt(step);
        float clip = (config.maxGradNorm() > 0 && gradNorm > config.maxGradNorm()
                ? (float) (config.maxGradNorm() / gradNorm) : 1f) * invScale;
        float b1 = config.beta1();
        float b2 = config.beta2();
        float bc1 = (float) (1 - Math.pow(b1, step));
        float bc2 = (float) (1 - Math.pow(b2, step));
        // PyTorch's AdamW in fewer passes over each parameter (12-13, was 17-19): the clip factor is
        // folded into the moment updates and the bias corrections into the step size and epsilon
        // (m/bc1 / (sqrt(v/bc2) + eps) = sqrt(bc2)/bc1 * m / (sqrt(v) + eps sqrt(bc2))), and decay is
        // p *= 1 - lr * wd before the step, as torch.optim.AdamW does it.
        float c1 = (1 - b1) * clip;
        float c2 = (1 - b2) * clip * clip;
        float sqrtBc2 = (float) Math.sqrt(bc2);
        float stepSize = lr * sqrtBc2 / bc1;
        float eps = config.epsilon() * sqrtBc2;
        float decayFactor = 1 - lr * config.weightDecay();
        try (NDManager tmp = manager.newSubManager()) {
            for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
                String name = e.getKey();
                NDArray p = e.getValue();
                NDArray g = p.getGradient();
                g.attach(tmp);
                NDArray mi = m.get(name);
                NDArray vi = v.get(name);
                NDArray gm = g.mul(c1);
                gm.attach(tmp);
                mi.muli(b1).addi(gm);
                NDArray g2 = g.square();
                g2.attach(tmp);
                vi.muli(b2).addi(g2.muli(c2));
                NDArray denom = vi.sqrt();
                denom.attach(tmp);
                denom.addi(eps);
                NDArray update = mi.div(denom);
                update.attach(tmp);
                if (config.weightDecay() > 0 && decayed.contains(name)) {
                    p.muli(decayFactor);
                }
                p.subi(update.muli(stepSize));
            }
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
