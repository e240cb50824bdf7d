package io.optune.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import io.optune.engine.Rng;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GPT-2 style decoder-only transformer (pre-norm blocks, learned positions, tied output
 * embedding) written as functions over a named parameter map rather than as DJL {@code Block}s.
 *
 * <p>Why not {@code Block}s: the trainer must checkpoint parameters <em>and</em> optimizer moments
 * bit-exactly and swap in published weights while generating; owning the arrays by name makes both
 * plain, and the functional ops ({@link Linear#linear}, {@link Embedding#embedding},
 * {@link LayerNorm#layerNorm}) attach every intermediate to the input's manager, so a sub-manager
 * per step frees all of them. Parameter names follow GPT-2's ({@code wte}, {@code h.0.attn.c_attn},
 * ...) with DJL's (out, in) matrix layout.
 *
 * <p>Axes: tokens and positions are (B, T) int64; {@code bias} is an additive attention mask of
 * shape (B, 1, T, T_past + T) in float32 (0 = attend, large negative = masked); hidden states are
 * (B, T, width); logits are (B, T, vocab).
 */
public final class TransformerLM implements AutoCloseable {
    /** Added to masked attention scores; finite so that fully masked (padding) rows stay finite. */
    public static final float MASKED = -1e9f;

    private final ModelConfig config;
    private final NDManager manager;
    private final Map<String, NDArray> params;

    private TransformerLM(ModelConfig config, NDManager manager, Map<String, NDArray> params) {
        this.config = config;
        this.manager = manager;
        this.params = params;
    }

    /** Parameter names and shapes in a fixed order, the order of snapshots. */
    public static LinkedHashMap<String, Shape> parameterShapes(ModelConfig c, boolean scalarHead) {
        LinkedHashMap<String, Shape> s = new LinkedHashMap<>();
        int d = c.width();
        s.put("wte.weight", new Shape(c.vocabSize(), d));
        s.put("wpe.weight", new Shape(c.contextLength(), d));
        for (int i = 0; i < c.layers(); i++) {
            String p = "h." + i + ".";
            s.put(p + "ln_1.weight", new Shape(d));
            s.put(p + "ln_1.bias", new Shape(d));
            s.put(p + "attn.c_attn.weight", new Shape(3L * d, d));
            s.put(p + "attn.c_attn.bias", new Shape(3L * d));
            s.put(p + "attn.c_proj.weight", new Shape(d, d));
            s.put(p + "attn.c_proj.bias", new Shape(d));
            s.put(p + "ln_2.weight", new Shape(d));
            s.put(p + "ln_2.bias", new Shape(d));
            s.put(p + "mlp.c_fc.weight", new Shape(4L * d, d));
            s.put(p + "mlp.c_fc.bias", new Shape(4L * d));
            s.put(p + "mlp.c_proj.weight", new Shape(d, 4L * d));
            s.put(p + "mlp.c_proj.bias", new Shape(d));
        }
        s.put("ln_f.weight", new Shape(d));
        s.put("ln_f.bias", new Shape(d));
        if (scalarHead) {
            s.put("score.weight", new Shape(1, d));
            s.put("score.bias", new Shape(1));
        }
        return s;
    }

    /**
     * A freshly initialised model (GPT-2 init: N(0, 0.02) weights, residual projections scaled by
     * 1/sqrt(2 * layers), zero biases, unit layer-norm gains), deterministic in {@code seed}.
     */
    public static TransformerLM create(ModelConfig config, NDManager parent, long seed, boolean scalarHead) {
        NDManager manager = parent.newSubManager();
        Rng rng = new Rng(seed);
        Map<String, NDArray> params = new LinkedHashMap<>();
        float residualStd = (float) (0.02 / Math.sqrt(2.0 * config.layers()));
        for (Map.Entry<String, Shape> e : parameterShapes(config, scalarHead).entrySet()) {
            String name = e.getKey();
            Shape shape = e.getValue();
            float[] values = new float[Math.toIntExact(shape.size())];
            if (name.endsWith(".bias")) {
                // zeros
            } else if (name.startsWith("ln_") || name.contains(".ln_")) {
                java.util.Arrays.fill(values, 1f);
            } else {
                float std = name.endsWith("c_proj.weight") ? residualStd : 0.02f;
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (rng.nextGaussian() * std);
                }
            }
            params.put(name, manager.create(values, shape));
        }
        return new TransformerLM(config, manager, params);
    }

    /** A model over the given arrays, which are copied into a new sub-manager of {@code parent}. */
    public static TransformerLM fromArrays(
            ModelConfig config, NDManager parent, Map<String, NDArray> arrays, boolean scalarHead) {
        NDManager manager = parent.newSubManager();
        Map<String, NDArray> params = new LinkedHashMap<>();
        for (Map.Entry<String, Shape> e : parameterShapes(config, scalarHead).entrySet()) {
            NDArray src = arrays.get(e.getKey());
            if (src == null) {
                throw new IllegalArgumentException("missing parameter '" + e.getKey() + "'");
            }
            if (!src.getShape().equals(e.getValue())) {
                throw new IllegalArgumentException(
                        "parameter '" + e.getKey() + "' has shape " + src.getShape()
                                + ", the config needs " + e.getValue());
            }
            // duplicate(): toType/toDevice return the same storage when nothing changes.
            NDArray converted = src.toType(DataType.FLOAT32, false).toDevice(manager.getDevice(), false);
            NDArray copy = converted.duplicate();
            copy.attach(manager);
            if (converted != src) {
                converted.close();
            }
            params.put(e.getKey(), copy);
        }
        return new TransformerLM(config, manager, params);
    }

    public ModelConfig config() {
        return config;
    }

    public NDManager manager() {
        return manager;
    }

    public Device device() {
        return manager.getDevice();
    }

    /** The live parameter arrays by name (in snapshot order). Do not close them. */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    public boolean hasScalarHead() {
        return params.containsKey("score.weight");
    }

    public long parameterCount() {
        long n = 0;
        for (NDArray a : params.values()) {
            n += a.getShape().size();
        }
        return n;
    }

    /** Marks every parameter as trainable (or not) for autograd. */
    public void setTrainable(boolean trainable) {
        for (NDArray a : params.values()) {
            a.setRequiresGradient(trainable);
        }
    }

    /** An independent copy (for example the frozen DPO reference), not trainable. */
    public TransformerLM copy(NDManager parent) {
        Map<String, NDArray> detached = new LinkedHashMap<>();
        params.forEach((k, v) -> detached.put(k, v.stopGradient()));
        TransformerLM copy = fromArrays(config, parent, detached, hasScalarHead());
        detached.values().forEach(NDArray::close);
        return copy;
    }

    /** Overwrites this model's parameters with {@code other}'s values (same config required). */
    public void copyFrom(TransformerLM other) {
        io.optune.engine.GradMode.off();
        if (!other.config.equals(config)) {
            throw new IllegalArgumentException("config mismatch: " + other.config + " vs " + config);
        }
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray src = other.params.get(e.getKey());
            if (src != null) {
                try (NDArray detached = src.stopGradient()) {
                    detached.copyTo(e.getValue());
                }
            }
        }
    }

    /**
     * Final hidden states (after the last layer norm), (B, T, width). When {@code cache} is given,
     * the keys and values of these tokens are appended to it and attention also covers the cached
     * ones.
     */
    public NDArray hidden(NDArray tokens, NDArray positions, NDArray bias, KvCache cache) {
        NDArray x = Embedding.embedding(tokens, params.get("wte.weight"), SparseFormat.DENSE).head();
        NDArray pos = Embedding.embedding(positions, params.get("wpe.weight"), SparseFormat.DENSE).head();
        x = x.add(pos);
        NDManager m = x.getManager();
        long b = tokens.getShape().get(0);
        long t = tokens.getShape().get(1);
        int h = config.heads();
        int hw = config.headWidth();
        // Scalar operands are native arrays, never Java numbers: see the DJL autograd note in
        // docs (a Number operand is freed before backward() and corrupts gradients).
        NDArray scale = m.full(new Shape(), (float) (1.0 / Math.sqrt(hw)));
        for (int i = 0; i < config.layers(); i++) {
            String p = "h." + i + ".";
            NDArray a = layerNorm(x, p + "ln_1");
            NDArray qkv = Linear.linear(a, params.get(p + "attn.c_attn.weight"), params.get(p + "attn.c_attn.bias")).head();
            NDList parts = qkv.split(3, 2);
            NDArray q = heads(parts.get(0), b, t, h, hw);
            NDArray k = heads(parts.get(1), b, t, h, hw);
            NDArray v = heads(parts.get(2), b, t, h, hw);
            if (cache != null) {
                if (cache.keys[i] != null) {
                    NDArray oldK = cache.keys[i];
                    NDArray oldV = cache.values[i];
                    k = oldK.concat(k, 2);
                    v = oldV.concat(v, 2);
                    oldK.close(); // concat copied them
                    oldV.close();
                }
                cache.keys[i] = k;
                cache.values[i] = v;
            }
            NDArray keysT = k.transpose(0, 1, 3, 2);
            keysT.attach(m); // with a cache, k lives in the generation's manager; its view must not
            NDArray scores = q.matMul(keysT).mul(scale).add(bias);
            NDArray attn = scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(b, t, config.width());
            x = x.add(Linear.linear(attn, params.get(p + "attn.c_proj.weight"), params.get(p + "attn.c_proj.bias")).head());
            NDArray f = layerNorm(x, p + "ln_2");
            f = Linear.linear(f, params.get(p + "mlp.c_fc.weight"), params.get(p + "mlp.c_fc.bias")).head();
            f = Activation.gelu(f);
            x = x.add(Linear.linear(f, params.get(p + "mlp.c_proj.weight"), params.get(p + "mlp.c_proj.bias")).head());
        }
        return layerNorm(x, "ln_f");
    }

    /** Next-token logits from hidden states, through the tied token embedding: (B, T, vocab). */
    public NDArray logits(NDArray hidden) {
        return Linear.linear(hidden, params.get("wte.weight")).head();
    }

    /** One scalar per position from the reward head: (B, T). Only for models with a scalar head. */
    public NDArray scalarHead(NDArray hidden) {
        if (!hasScalarHead()) {
            throw new IllegalStateException("this model has no scalar head");
        }
        return Linear.linear(hidden, params.get("score.weight"), params.get("score.bias")).head().squeeze(-1);
    }

    private NDArray layerNorm(NDArray x, String prefix) {
        return LayerNorm.layerNorm(
                        x,
                        new Shape(config.width()),
                        params.get(prefix + ".weight"),
                        params.get(prefix + ".bias"),
                        config.layerNormEps())
                .head();
    }

    private static NDArray heads(NDArray x, long b, long t, int h, int hw) {
        return x.reshape(b, t, h, hw).transpose(0, 2, 1, 3);
    }

    /** Names of the parameters that weight decay applies to (matrices, not embeddings/norms/biases). */
    public List<String> decayedParameters() {
        List<String> names = new ArrayList<>();
        for (String n : params.keySet()) {
            if (n.startsWith("h.") && n.endsWith(".weight") && !n.contains(".ln_")) {
                names.add(n);
            }
        }
        return names;
    }

    @Override
    public void close() {
        manager.close();
    }
}
