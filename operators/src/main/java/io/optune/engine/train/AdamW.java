package io.optune.engine.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.optune.engine.model.TransformerLM;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * AdamW over a {@link TransformerLM}'s named parameters, as {@code torch.optim.AdamW} computes it.
 * Also owns gradient clipping and the non-finite guard.
 *
 * <p>On a GPU the moments live in two flat float32 buffers (one element per parameter element, in
 * the model's parameter order) and an update is a handful of whole-model ops on them plus one
 * subtraction per parameter, instead of a dozen ops per parameter (each op is a kernel launch and a
 * trip through JNI: 148 parameters made ~1,800 per step); per-parameter views of the buffers carry
 * the Hugging Face names. On a CPU the moments are one array per parameter and the update runs per
 * parameter: there the whole-model temporaries cost more than the calls they save (124M: 3.7 s per
 * update against 2.5 s, fresh 0.5 GB pages each time). (A per-parameter update on views of the flat
 * buffers was tried for CPUs: the embedded job's third checkpoint then never completed, twice out of
 * two runs, cause not found; hence separate arrays.) Either way a checkpoint stores the moments by
 * name and a restore continues bit-exactly.
 */
public final class AdamW implements AutoCloseable {
    private final TransformerLM model;
    private final AdamWConfig config;
    private final NDManager manager;
    private final List<String> names = new ArrayList<>();
    private final List<Shape> shapes = new ArrayList<>();
    /** Where each parameter after the first starts in the flat buffers. */
    private final long[] splits;
    private final boolean[] decayed;
    /** Whole-model ops on flat buffers (GPU) rather than per-parameter ones on separate arrays (CPU). */
    private final boolean fused;
    /** The flat buffers (fused only; null otherwise). */
    private NDArray m;
    private NDArray v;
    /** By name: views of the flat buffers (fused) or the per-parameter arrays themselves. */
    private Map<String, NDArray> mViews;
    private Map<String, NDArray> vViews;
    private long step;

    public AdamW(TransformerLM model, AdamWConfig config) {
        this(model, config, model.device().isGpu());
    }

    /** {@code fused}: the whole-model form (a GPU's) or the per-parameter one (a CPU's). */
    AdamW(TransformerLM model, AdamWConfig config, boolean fused) {
        this.fused = fused;
        this.model = model;
        this.config = config;
        this.manager = model.manager().newSubManager();
        Set<String> decay = new HashSet<>(model.decayedParameters());
        long total = 0;
        List<Long> starts = new ArrayList<>();
        for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
            if (total > 0) {
                starts.add(total);
            }
            names.add(e.getKey());
            shapes.add(e.getValue().getShape());
            total += e.getValue().getShape().size();
        }
        this.splits = starts.stream().mapToLong(Long::longValue).toArray();
        this.decayed = new boolean[names.size()];
        for (int i = 0; i < names.size(); i++) {
            decayed[i] = decay.contains(names.get(i));
        }
        if (fused) {
            m = manager.zeros(new Shape(total));
            v = manager.zeros(new Shape(total));
            mViews = views(m);
            vViews = views(v);
        } else {
            mViews = zerosByName();
            vViews = zerosByName();
        }
    }

    private Map<String, NDArray> zerosByName() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            out.put(names.get(i), manager.zeros(shapes.get(i)));
        }
        return Collections.unmodifiableMap(out);
    }

    /** Per-parameter views (shared storage) of a flat buffer, by name. */
    private Map<String, NDArray> views(NDArray flat) {
        NDList parts = splits.length == 0 ? new NDList(flat) : flat.split(splits);
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            NDArray view = parts.get(i).reshape(shapes.get(i));
            view.attach(manager);
            out.put(names.get(i), view);
        }
        return Collections.unmodifiableMap(out);
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

    /** The first moments by parameter name (do not close). */
    public Map<String, NDArray> firstMoments() {
        return mViews;
    }

    /** The second moments by parameter name (do not close). */
    public Map<String, NDArray> secondMoments() {
        return vViews;
    }

    /**
     * Takes over restored moments (arrays of the model's shapes, by name), replacing the current
     * ones; the arrays passed in are closed.
     */
    public void replaceMoments(Map<String, NDArray> first, Map<String, NDArray> second) {
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            NDArray a = first.get(name);
            NDArray b = second.get(name);
            if (a == null || b == null || !a.getShape().equals(shapes.get(i)) || !b.getShape().equals(shapes.get(i))) {
                throw new IllegalArgumentException("restored optimizer moments lack '" + name + "' or differ in shape");
            }
        }
        mViews.values().forEach(NDArray::close);
        vViews.values().forEach(NDArray::close);
        if (fused) {
            NDArray newM = flatten(first);
            NDArray newV = flatten(second);
            m.close();
            v.close();
            m = newM;
            v = newV;
            mViews = views(m);
            vViews = views(v);
            first.values().forEach(NDArray::close);
            second.values().forEach(NDArray::close);
        } else {
            mViews = adopt(first);
            vViews = adopt(second);
        }
    }

    /** The restored arrays themselves, moved to this optimizer's manager, in parameter order. */
    private Map<String, NDArray> adopt(Map<String, NDArray> byName) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (String name : names) {
            NDArray a = byName.get(name);
            a.attach(manager);
            out.put(name, a);
        }
        return Collections.unmodifiableMap(out);
    }

    private NDArray flatten(Map<String, NDArray> byName) {
        NDList parts = new NDList(names.size());
        for (String name : names) {
            parts.add(byName.get(name).reshape(-1));
        }
        NDArray flat = NDArrays.concat(parts, 0).toType(DataType.FLOAT32, false).toDevice(manager.getDevice(), false);
        flat.attach(manager);
        return flat;
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
                g.set(new NDIndex("..."), 0f);
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
        io.optune.engine.GradMode.off();
        try (NDManager tmp = manager.newSubManager()) {
            NDArray g = fused ? flatGradients(tmp) : null;
            double norm = (fused ? norm(g) : perParameterNorm(tmp)) / gradScale;
            if (!Double.isFinite(lossValue) || !Double.isFinite(norm)) {
                return new Step(lossValue, norm, true);
            }
            if (fused) {
                update(g, norm, 1f / gradScale);
            } else {
                updatePerParameter(tmp, norm, 1f / gradScale);
            }
            return new Step(lossValue, norm, false);
        }
    }

    /** Global L2 norm of all gradients (may be NaN or infinite); one host sync. */
    public double gradientNorm() {
        io.optune.engine.GradMode.off();
        try (NDManager tmp = manager.newSubManager()) {
            return fused ? norm(flatGradients(tmp)) : perParameterNorm(tmp);
        }
    }

    private static double norm(NDArray flat) {
        return flat.norm().toType(DataType.FLOAT64, false).getDouble();
    }

    /** The per-parameter norms stacked and reduced on the engine: one host sync. */
    private double perParameterNorm(NDManager tmp) {
        NDList norms = new NDList(names.size());
        for (NDArray p : model.parameters().values()) {
            NDArray g = p.getGradient(); // a new handle per call: attach it so it is freed
            g.attach(tmp);
            norms.add(g.norm());
        }
        NDArray all = NDArrays.stack(norms);
        return all.toType(DataType.FLOAT64, false).square().sum().sqrt().getDouble();
    }

    /** All gradients in one float32 buffer, in parameter order (one copy, owned by {@code tmp}). */
    private NDArray flatGradients(NDManager tmp) {
        NDList parts = new NDList(names.size());
        for (NDArray p : model.parameters().values()) {
            NDArray g = p.getGradient(); // a new handle per call: attach it so it is freed
            g.attach(tmp);
            parts.add(g.reshape(-1));
        }
        NDArray flat = NDArrays.concat(parts, 0);
        flat.attach(tmp);
        return flat;
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
        try (NDManager tmp = manager.newSubManager()) {
            if (fused) {
                update(flatGradients(tmp), gradNorm, invScale);
            } else {
                updatePerParameter(tmp, gradNorm, invScale);
            }
        }
    }

    /**
     * The scalars of one update (after {@code step} was incremented). torch.optim.AdamW with the clip
     * factor folded into the moment updates and the bias corrections into the step size and epsilon
     * (m/bc1 / (sqrt(v/bc2) + eps) = sqrt(bc2)/bc1 * m / (sqrt(v) + eps sqrt(bc2))); decay is
     * p *= 1 - lr * wd before the step, as torch does it.
     */
    private record Scalars(float clip, float b1, float b2, float stepSize, float eps, float decayFactor) {}

    private Scalars scalars(double gradNorm, float invScale) {
        float lr = config.learningRateAt(step);
        float clip = (config.maxGradNorm() > 0 && gradNorm > config.maxGradNorm()
                ? (float) (config.maxGradNorm() / gradNorm) : 1f) * invScale;
        float bc1 = (float) (1 - Math.pow(config.beta1(), step));
        float bc2 = (float) (1 - Math.pow(config.beta2(), step));
        float sqrtBc2 = (float) Math.sqrt(bc2);
        return new Scalars(clip, config.beta1(), config.beta2(), lr * sqrtBc2 / bc1, config.epsilon() * sqrtBc2,
                1 - lr * config.weightDecay());
    }

    /** The CPU form: a dozen ops per parameter on its own moment arrays (12-13 passes). */
    private void updatePerParameter(NDManager tmp, double gradNorm, float invScale) {
        step++;
        Scalars s = scalars(gradNorm, invScale);
        float b1 = s.b1();
        float b2 = s.b2();
        float c1 = (1 - b1) * s.clip();
        float c2 = (1 - b2) * s.clip() * s.clip();
        float stepSize = s.stepSize();
        float eps = s.eps();
        float decayFactor = s.decayFactor();
        int i = 0;
        for (NDArray p : model.parameters().values()) {
            String name = names.get(i);
            NDArray g = p.getGradient();
            g.attach(tmp);
            NDArray mi = mViews.get(name);
            NDArray vi = vViews.get(name);
            NDArray gm = g.mul(c1);
            gm.attach(tmp);
            mi.muli(b1).addi(gm);
            NDArray g2 = g.square();
            g2.attach(tmp);
            vi.muli(b2).addi(g2.muli(c2));
            NDArray denom = vi.sqrt();
            denom.attach(tmp);
            denom.addi(eps);
            NDArray u = mi.div(denom);
            u.attach(tmp);
            if (config.weightDecay() > 0 && decayed[i]) {
                p.muli(decayFactor);
            }
            p.subi(u.muli(stepSize));
            i++;
        }
    }

    /** The GPU form, from {@code g}, the flat gradients, which it overwrites. */
    private void update(NDArray g, double gradNorm, float invScale) {
        NDManager tmp = g.getManager();
        step++;
        Scalars s = scalars(gradNorm, invScale);
        float b1 = s.b1();
        float b2 = s.b2();
        float c1 = (1 - b1) * s.clip();
        float stepSize = s.stepSize();
        float eps = s.eps();
        float decayFactor = s.decayFactor();
        g.muli(c1); // (1 - b1) clip g
        m.muli(b1).addi(g);
        // ((1 - b1) clip g)^2 (1 - b2) / (1 - b1)^2 = (1 - b2) (clip g)^2, without a second copy of g
        g.muli(g).muli((1 - b2) / ((1 - b1) * (1 - b1)));
        v.muli(b2).addi(g);
        g.close(); // at most two whole-model temporaries at a time
        NDArray denom = v.sqrt();
        denom.addi(eps);
        NDArray u = m.div(denom);
        denom.close();
        u.attach(tmp);
        u.muli(stepSize); // stepSize * m / (sqrt(v) + eps)
        NDList parts = splits.length == 0 ? new NDList(u) : u.split(splits);
        List<NDArray> params = new ArrayList<>(model.parameters().values());
        for (int i = 0; i < params.size(); i++) {
            NDArray p = params.get(i);
            NDArray part = parts.get(i);
            part.attach(tmp);
            if (config.weightDecay() > 0 && decayed[i]) {
                p.muli(decayFactor);
            }
            p.subi(part.reshape(shapes.get(i)));
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
