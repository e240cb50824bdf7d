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
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One decoder-only transformer for every {@link ModelFamily}: token embedding, N pre-norm blocks
 * (attention, then MLP, each with a residual), a final norm and an LM head. The family switches
 * LayerNorm / RMSNorm, learned positions / RoPE, GPT-2's fused Conv1D {@code c_attn} / separate
 * q, k, v, o projections (with Qwen2's biases, Qwen3's per-head q/k norms, grouped-query
 * attention), {@code gelu_new} / SwiGLU, and a tied / untied head. Written as functions over a
 * named parameter map rather than as DJL {@code Block}s.
 *
 * <p>Why not {@code Block}s: the trainer must checkpoint parameters <em>and</em> optimizer moments
 * bit-exactly and swap in published weights while generating; owning the arrays by name makes both
 * plain, and the functional ops ({@link Linear#linear}, {@link Embedding#embedding},
 * {@link LayerNorm#layerNorm}) attach every intermediate to the input's manager, so a sub-manager
 * per step frees all of them.
 *
 * <p>Parameter names and layouts are the Hugging Face ones ({@code transformer.h.0.attn.c_attn.weight}
 * stored [in, out] as GPT-2's Conv1D stores it, {@code model.layers.0.self_attn.q_proj.weight}
 * [out, in], {@code lm_head.weight}, a reward model's {@code score.weight} [1, hidden]), so a
 * checkpoint loads and exports without renaming or transposing, and gradients compare by name.
 *
 * <p>Axes: tokens and positions are (B, T) int64 (positions count from 0 at a row's first real
 * token); {@code bias} is an additive attention mask of shape (B or 1, 1, T, T_past + T) in float32
 * (0 = attend, {@link #MASKED} = masked); hidden states are (B, T, width); logits are (B, T, vocab).
 * Hidden states, logits and parameters are float32; with {@link Precision#FLOAT16} the matrix
 * products (and the KV cache) run in float16, as autocast would run them.
 */
public final class TransformerLM implements AutoCloseable {
    /** Added to masked attention scores; finite so that fully masked (padding) rows stay finite. */
    public static final float MASKED = -1e9f;

    private static final double SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);

    private final ModelConfig config;
    private final NDManager manager;
    private final Map<String, NDArray> params;
    private final String prefix;
    private final String embedName;
    private final float[] invFreq;
    private Precision precision = Precision.FLOAT32;
    /** Matrices stored in float16 for decoding ({@link #storeForInference}); never trained. */
    private boolean inferenceOnly;

    private TransformerLM(ModelConfig config, NDManager manager, Map<String, NDArray> params) {
        this.config = config;
        this.manager = manager;
        this.params = params;
        this.prefix = config.family().prefix();
        this.embedName = prefix + (config.family().isGpt2() ? "wte.weight" : "embed_tokens.weight");
        int half = config.headDim() / 2;
        this.invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            // As transformers: theta^(2i/d) in float32, then its reciprocal.
            float exponent = (float) (2 * i) / config.headDim();
            invFreq[i] = config.ropePrecision().round(1f / (float) Math.pow(config.ropeTheta(), exponent));
        }
    }

    /** Parameter names and shapes in a fixed order, the order of snapshots and exports. */
    public static LinkedHashMap<String, Shape> parameterShapes(ModelConfig c, boolean scalarHead) {
        LinkedHashMap<String, Shape> s = new LinkedHashMap<>();
        int d = c.width();
        int inner = c.intermediateSize();
        if (c.family().isGpt2()) {
            String p = "transformer.";
            s.put(p + "wte.weight", new Shape(c.vocabSize(), d));
            s.put(p + "wpe.weight", new Shape(c.contextLength(), d));
            for (int i = 0; i < c.layers(); i++) {
                String l = p + "h." + i + ".";
                s.put(l + "ln_1.weight", new Shape(d));
                s.put(l + "ln_1.bias", new Shape(d));
                s.put(l + "attn.c_attn.weight", new Shape(d, 3L * d)); // Conv1D: [in, out]
                s.put(l + "attn.c_attn.bias", new Shape(3L * d));
                s.put(l + "attn.c_proj.weight", new Shape(d, d));
                s.put(l + "attn.c_proj.bias", new Shape(d));
                s.put(l + "ln_2.weight", new Shape(d));
                s.put(l + "ln_2.bias", new Shape(d));
                s.put(l + "mlp.c_fc.weight", new Shape(d, inner));
                s.put(l + "mlp.c_fc.bias", new Shape(inner));
                s.put(l + "mlp.c_proj.weight", new Shape(inner, d));
                s.put(l + "mlp.c_proj.bias", new Shape(d));
            }
            s.put(p + "ln_f.weight", new Shape(d));
            s.put(p + "ln_f.bias", new Shape(d));
        } else {
            String p = "model.";
            long q = (long) c.heads() * c.headDim();
            long kv = (long) c.kvHeads() * c.headDim();
            s.put(p + "embed_tokens.weight", new Shape(c.vocabSize(), d));
            for (int i = 0; i < c.layers(); i++) {
                String l = p + "layers." + i + ".";
                s.put(l + "input_layernorm.weight", new Shape(d));
                s.put(l + "self_attn.q_proj.weight", new Shape(q, d));
                s.put(l + "self_attn.k_proj.weight", new Shape(kv, d));
                s.put(l + "self_attn.v_proj.weight", new Shape(kv, d));
                if (c.qkvBias()) {
                    s.put(l + "self_attn.q_proj.bias", new Shape(q));
                    s.put(l + "self_attn.k_proj.bias", new Shape(kv));
                    s.put(l + "self_attn.v_proj.bias", new Shape(kv));
                }
                if (c.qkNorm()) {
                    s.put(l + "self_attn.q_norm.weight", new Shape(c.headDim()));
                    s.put(l + "self_attn.k_norm.weight", new Shape(c.headDim()));
                }
                s.put(l + "self_attn.o_proj.weight", new Shape(d, q));
                s.put(l + "post_attention_layernorm.weight", new Shape(d));
                s.put(l + "mlp.gate_proj.weight", new Shape(inner, d));
                s.put(l + "mlp.up_proj.weight", new Shape(inner, d));
                s.put(l + "mlp.down_proj.weight", new Shape(d, inner));
            }
            s.put(p + "norm.weight", new Shape(d));
        }
        if (!c.tiedEmbeddings() && !scalarHead) {
            s.put("lm_head.weight", new Shape(c.vocabSize(), d));
        }
        if (scalarHead) {
            s.put("score.weight", new Shape(1, d)); // as *ForSequenceClassification: no bias
        }
        return s;
    }

    /**
     * A freshly initialised model (N(0, 0.02) matrices, residual output projections scaled by
     * 1/sqrt(2 * layers), zero biases, unit norm gains), deterministic in {@code seed}.
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
            } else if (isNorm(name)) {
                Arrays.fill(values, 1f);
            } else {
                boolean residual = name.endsWith("c_proj.weight") || name.endsWith("o_proj.weight")
                        || name.endsWith("down_proj.weight");
                float std = residual ? residualStd : 0.02f;
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (rng.nextGaussian() * std);
                }
            }
            params.put(name, manager.create(values, shape));
        }
        return new TransformerLM(config, manager, params);
    }

    private static boolean isNorm(String name) {
        return name.contains(".ln_") || name.endsWith("norm.weight");
    }

    /** A model over the given arrays, which are copied into a new sub-manager of {@code parent}. */
    public static TransformerLM fromArrays(
            ModelConfig config, NDManager parent, Map<String, NDArray> arrays, boolean scalarHead) {
        NDManager manager = parent.newSubManager();
        try {
            Map<String, NDArray> params = new LinkedHashMap<>();
            for (Map.Entry<String, Shape> e : parameterShapes(config, scalarHead).entrySet()) {
                NDArray src = checked(arrays, e.getKey(), e.getValue());
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
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * A model that takes ownership of {@code owner} and the float32 arrays in it (no copy), for
     * loaders that create each parameter once. Every parameter must be present with its shape.
     */
    public static TransformerLM adopt(ModelConfig config, NDManager owner, Map<String, NDArray> arrays, boolean scalarHead) {
        Map<String, NDArray> params = new LinkedHashMap<>();
        for (Map.Entry<String, Shape> e : parameterShapes(config, scalarHead).entrySet()) {
            NDArray a = checked(arrays, e.getKey(), e.getValue());
            if (a.getDataType() != DataType.FLOAT32) {
                throw new IllegalArgumentException("parameter '" + e.getKey() + "' is " + a.getDataType() + ", not float32");
            }
            params.put(e.getKey(), a);
        }
        return new TransformerLM(config, owner, params);
    }

    private static NDArray checked(Map<String, NDArray> arrays, String name, Shape shape) {
        NDArray src = arrays.get(name);
        if (src == null) {
            throw new IllegalArgumentException("missing parameter '" + name + "'");
        }
        if (!src.getShape().equals(shape)) {
            throw new IllegalArgumentException(
                    "parameter '" + name + "' has shape " + src.getShape() + ", the config needs " + shape);
        }
        return src;
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

    /** The live parameter arrays by Hugging Face name (in snapshot order). Do not close them. */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    public boolean hasScalarHead() {
        return params.containsKey("score.weight");
    }

    /** The token embedding's name ({@code transformer.wte.weight} or {@code model.embed_tokens.weight}). */
    public String embeddingName() {
        return embedName;
    }

    public long parameterCount() {
        long n = 0;
        for (NDArray a : params.values()) {
            n += a.getShape().size();
        }
        return n;
    }

    /** The precision of this model's matrix products. */
    public Precision precision() {
        return precision;
    }

    /**
     * Runs this model's matrix products in {@code precision}; the parameters stay as they are
     * (float32 masters, cast per forward inside the graph, so gradients still land in float32).
     */
    public void setPrecision(Precision precision) {
        if (inferenceOnly && precision != this.precision) {
            throw new IllegalStateException("an inference copy stays in " + this.precision);
        }
        this.precision = precision;
    }

    /**
     * Makes this model an inference copy in {@code precision}: with float16 its matrices (embedding
     * and head included) are stored in float16, so a decoding step reads half the bytes and casts
     * nothing; vectors (norm gains, biases) stay float32. It cannot be trained afterwards;
     * {@link #copyFrom} casts new weights into it.
     */
    public void storeForInference(Precision precision) {
        setPrecision(precision);
        if (!precision.isHalf()) {
            return;
        }
        inferenceOnly = true;
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray a = e.getValue();
            if (a.getShape().dimension() == 2 && a.getDataType() != DataType.FLOAT16) {
                NDArray h = a.toType(DataType.FLOAT16, true);
                h.attach(manager);
                e.setValue(h);
                a.close();
            }
        }
    }

    /** Whether the matrices are stored in reduced precision for decoding only. */
    public boolean isInferenceCopy() {
        return inferenceOnly;
    }

    /** Marks every parameter as trainable (or not) for autograd. */
    public void setTrainable(boolean trainable) {
        if (trainable && inferenceOnly) {
            throw new IllegalStateException("an inference copy in " + precision + " cannot be trained");
        }
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
        copy.precision = precision; // float32 storage, the same products
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
                NDArray dest = e.getValue();
                try (NDArray detached = src.stopGradient()) {
                    if (detached.getDataType() == dest.getDataType()) {
                        detached.copyTo(dest);
                    } else {
                        try (NDArray cast = detached.toType(dest.getDataType(), false)) {
                            cast.copyTo(dest);
                        }
                    }
                }
            }
        }
    }

    /**
     * Final hidden states (after the last norm), (B, T, width). When {@code cache} is given, the
     * keys and values of these tokens are appended to it and attention also covers the cached ones.
     */
    public NDArray hidden(NDArray tokens, NDArray positions, NDArray bias, KvCache cache) {
        NDArray x = embed(tokens, embedName);
        NDManager m = x.getManager();
        boolean gpt2 = config.family().isGpt2();
        boolean half = precision.isHalf();
        if (gpt2) {
            x = x.add(embed(positions, prefix + "wpe.weight"));
        }
        long b = tokens.getShape().get(0);
        long t = tokens.getShape().get(1);
        // Scalar operands are native arrays, never Java numbers: a Number operand is freed before
        // backward() in DJL 0.36 and corrupts gradients.
        Scalars s = new Scalars(m, config);
        NDArray[] rope = gpt2 ? null : rope(m, positions);
        for (int i = 0; i < config.layers(); i++) {
            String l = prefix + (gpt2 ? "h." : "layers.") + i + ".";
            NDArray a = gpt2 ? layerNorm(x, l + "ln_1") : rmsNorm(x, params.get(l + "input_layernorm.weight"), s);
            NDArray q;
            NDArray k;
            NDArray v;
            if (gpt2) {
                NDList qkv = conv1d(a, l + "attn.c_attn", m).split(3, 2);
                q = heads(qkv.get(0), b, t, config.heads());
                k = heads(qkv.get(1), b, t, config.heads());
                v = heads(qkv.get(2), b, t, config.heads());
            } else {
                // Norms and RoPE in float32 (as transformers under autocast), the products in half.
                q = wide(linear(a, l + "self_attn.q_proj", m)).reshape(b, t, config.heads(), config.headDim());
                k = wide(linear(a, l + "self_attn.k_proj", m)).reshape(b, t, config.kvHeads(), config.headDim());
                v = heads(linear(a, l + "self_attn.v_proj", m), b, t, config.kvHeads());
                if (config.qkNorm()) {
                    q = rmsNorm(q, params.get(l + "self_attn.q_norm.weight"), s);
                    k = rmsNorm(k, params.get(l + "self_attn.k_norm.weight"), s);
                }
                q = applyRope(q.transpose(0, 2, 1, 3), rope);
                k = applyRope(k.transpose(0, 2, 1, 3), rope);
                if (half) {
                    q = narrow(q, m);
                    k = narrow(k, m);
                }
            }
            if (cache != null) {
                NDArray[] kv = cache.append(i, k, v, m);
                k = kv[0];
                v = kv[1];
            }
            // Decoding with grouped-query attention: each key/value head's query heads are stacked as
            // rows of one product instead of copying the whole cache once per query head, every step.
            boolean grouped = t == 1 && config.groups() > 1;
            NDArray qq = grouped ? q.reshape(b, config.kvHeads(), config.groups(), config.headDim()) : q;
            NDArray kk = grouped ? k : repeatKv(k);
            NDArray vv = grouped ? v : repeatKv(v);
            NDArray probs;
            if (half) {
                // Scaled before the product (float16 has little headroom), softmax in float32.
                NDArray scores = qq.mul(s.scale).matMul(kk.transpose(0, 1, 3, 2));
                probs = narrow(wide(scores).add(bias).softmax(-1), m);
            } else {
                probs = qq.matMul(kk.transpose(0, 1, 3, 2)).mul(s.scale).add(bias).softmax(-1);
            }
            NDArray out = probs.matMul(vv); // (B, heads, T, d), or (B, kvHeads, groups, d) when grouped
            NDArray attn = (grouped ? out.reshape(b, config.heads(), 1, config.headDim()) : out).transpose(0, 2, 1, 3)
                    .reshape(b, t, (long) config.heads() * config.headDim());
            // A half-precision branch added to the float32 residual stream widens to float32.
            if (gpt2) {
                x = x.add(conv1d(attn, l + "attn.c_proj", m));
                NDArray f = layerNorm(x, l + "ln_2");
                f = geluNew(conv1d(f, l + "mlp.c_fc", m), s);
                x = x.add(conv1d(f, l + "mlp.c_proj", m));
            } else {
                x = x.add(linear(attn, l + "self_attn.o_proj", m));
                NDArray f = rmsNorm(x, params.get(l + "post_attention_layernorm.weight"), s);
                NDArray gate = linear(f, l + "mlp.gate_proj", m);
                NDArray up = linear(f, l + "mlp.up_proj", m);
                f = gate.mul(Activation.sigmoid(gate)).mul(up); // SwiGLU: silu(gate) * up
                x = x.add(linear(f, l + "mlp.down_proj", m));
            }
        }
        if (cache != null) {
            cache.advance(t);
        }
        return gpt2 ? layerNorm(x, prefix + "ln_f") : rmsNorm(x, params.get(prefix + "norm.weight"), s);
    }

    /**
     * Rows of an embedding table, float32. In float16 the rows are rounded to float16 first, so a
     * model with float32 tables (trained) and its inference copy (float16 tables) see the same inputs.
     */
    private NDArray embed(NDArray ids, String table) {
        NDArray rows = Embedding.embedding(ids, params.get(table), SparseFormat.DENSE).head();
        if (precision.isHalf() && rows.getDataType() != DataType.FLOAT16) {
            rows = cast(rows, DataType.FLOAT16);
        }
        return wide(rows);
    }

    /** Next-token logits from hidden states, through the LM head (tied or not): (B, T, vocab). */
    public NDArray logits(NDArray hidden) {
        NDArray head = config.tiedEmbeddings() ? params.get(embedName) : params.get("lm_head.weight");
        if (head == null) {
            throw new IllegalStateException("this model has no LM head (it is a reward model)");
        }
        return product(hidden, head);
    }

    /** hidden @ weight^T in this model's precision, as float32 (B, T, rows of weight). */
    private NDArray product(NDArray hidden, NDArray weight) {
        if (!precision.isHalf()) {
            return Linear.linear(hidden, weight).head();
        }
        NDManager m = hidden.getManager();
        return wide(Linear.linear(narrow(hidden, m), narrow(weight, m)).head());
    }

    /** One scalar per position from the reward head: (B, T). Only for models with a scalar head. */
    public NDArray scalarHead(NDArray hidden) {
        if (!hasScalarHead()) {
            throw new IllegalStateException("this model has no scalar head");
        }
        return product(hidden, params.get("score.weight")).squeeze(-1);
    }

    /** Native scalars of one forward pass (only those its family uses). */
    private static final class Scalars {
        final NDArray scale;
        final NDArray eps;
        final NDArray geluLinear;
        final NDArray geluCubic;

        Scalars(NDManager m, ModelConfig c) {
            scale = m.full(new Shape(), (float) (1.0 / Math.sqrt(c.headDim())));
            if (c.family().isGpt2()) {
                eps = null;
                // gelu_new(x) = 0.5 x (1 + tanh(k (x + 0.044715 x^3))) = x * sigmoid(x (2k + 2k 0.044715 x^2))
                geluLinear = m.full(new Shape(), (float) (2 * SQRT_2_OVER_PI));
                geluCubic = m.full(new Shape(), (float) (2 * SQRT_2_OVER_PI * 0.044715));
            } else {
                eps = m.full(new Shape(), c.normEps());
                geluLinear = null;
                geluCubic = null;
            }
        }
    }

    /** x W^T + b; in float16 (input, weight and bias cast, output float16) when the precision says so. */
    private NDArray linear(NDArray x, String name, NDManager m) {
        NDArray w = params.get(name + ".weight");
        NDArray bias = params.get(name + ".bias");
        if (!precision.isHalf()) {
            return project(x, w, bias);
        }
        return project(narrow(x, m), narrow(w, m), bias == null ? null : narrow(bias, m));
    }

    /** GPT-2's Conv1D: weight stored [in, out], so x @ W + b (as transformers computes it), via a transposed view. */
    private NDArray conv1d(NDArray x, String name, NDManager m) {
        NDArray w = params.get(name + ".weight");
        NDArray bias = params.get(name + ".bias");
        NDArray wt = (precision.isHalf() ? narrow(w, m) : w).transpose();
        wt.attach(m); // a view of a parameter: the forward's, not the model's, to close
        return project(precision.isHalf() ? narrow(x, m) : x, wt, precision.isHalf() ? narrow(bias, m) : bias);
    }

    /**
     * x W^T + b for W [out, in]. With a bias, over the rows flattened to a matrix: DJL's {@code linear} is
     * the C++ frontend's, which takes a single {@code addmm} only for a matrix and otherwise runs a matmul
     * and a separate add. One kernel fewer per biased projection (GPT-2: four per layer and pass; on a GPU
     * these sizes are bound by kernel launches, docs/BENCHMARKS.md section 8c), and the same sum
     * transformers computes ({@code addmm} in GPT-2's Conv1D).
     */
    private static NDArray project(NDArray x, NDArray w, NDArray bias) {
        Shape shape = x.getShape();
        int rank = shape.dimension();
        if (bias == null || rank == 2) {
            return Linear.linear(x, w, bias).head();
        }
        long[] out = shape.getShape().clone(); // getShape() is the shape's own array
        out[rank - 1] = w.getShape().get(0);
        return Linear.linear(x.reshape(-1, shape.get(rank - 1)), w, bias).head().reshape(new Shape(out));
    }

    /**
     * {@code a} in float16. A cast of a parameter belongs to the forward's manager {@code m} (else it
     * would stay with the model's arrays); under autograd it is part of the graph, so the gradient
     * reaches the float32 parameter.
     */
    private static NDArray narrow(NDArray a, NDManager m) {
        if (a.getDataType() == DataType.FLOAT16) {
            return a;
        }
        NDArray h = cast(a, DataType.FLOAT16);
        h.attach(m);
        return h;
    }

    /** {@code a} in float32 (a no-op for float32 arrays); the result stays with {@code a}'s manager. */
    private static NDArray wide(NDArray a) {
        return a.getDataType() == DataType.FLOAT16 ? cast(a, DataType.FLOAT32) : a;
    }

    /**
     * A cast that autograd sees. DJL 0.36's {@code toType} runs under a no-grad guard (its JNI
     * {@code torchTo}), so a gradient would stop there; {@code cumprod} with a dtype casts inside
     * the graph, and over an axis of length 1 it is the identity (its backward passes the gradient
     * through, cast back). Without a graph the plain cast is cheaper.
     */
    static NDArray cast(NDArray a, DataType type) {
        if (!ai.djl.pytorch.jni.JniUtils.isGradMode()) {
            return a.toType(type, false);
        }
        // The new axis leads: a scan over an outer axis of length 1 is one coalesced pass on a GPU,
        // while a scan over the innermost axis runs a block per handful of elements (on an H100 that
        // form made a 124M-parameter float16 DPO step take 1.5 s).
        return a.expandDims(0).cumProd(0, type).squeeze(0);
    }

    private NDArray layerNorm(NDArray x, String name) {
        return LayerNorm.layerNorm(
                        x, new Shape(config.width()), params.get(name + ".weight"), params.get(name + ".bias"),
                        config.normEps())
                .head();
    }

    /** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * w. */
    private static NDArray rmsNorm(NDArray x, NDArray weight, Scalars s) {
        int last = x.getShape().dimension() - 1;
        NDArray rms = x.square().mean(new int[] {last}, true).add(s.eps).sqrt();
        return x.div(rms).mul(weight);
    }

    /**
     * The tanh approximation of GELU that GPT-2 uses ({@code gelu_new}), in the equivalent form
     * x * sigmoid(2z) with z = k (x + 0.044715 x^3): fewer ops, same values to float rounding.
     */
    private static NDArray geluNew(NDArray x, Scalars s) {
        if (ai.djl.pytorch.jni.JniUtils.isGradMode()) {
            NDArray gate = x.square().mul(s.geluCubic).add(s.geluLinear).mul(x);
            return x.mul(Activation.sigmoid(gate));
        }
        // No graph (sampling, reference and evaluation passes): in place, two allocations instead of five.
        NDArray gate = x.square();
        gate.muli(s.geluCubic).addi(s.geluLinear).muli(x);
        return Activation.sigmoid(gate).muli(x);
    }

    /** cos and sin of every position's angles, each (B, 1, T, headDim), the halves repeated. */
    private NDArray[] rope(NDManager m, NDArray positions) {
        NDArray freq = m.create(invFreq);
        NDArray angles = positions.toType(DataType.FLOAT32, false).expandDims(2).mul(freq);
        NDArray emb = angles.concat(angles, 2).expandDims(1);
        return new NDArray[] {emb.cos(), emb.sin()};
    }

    /** x * cos + rotate_half(x) * sin, with rotate_half([x1, x2]) = [-x2, x1] (transformers' convention). */
    private static NDArray applyRope(NDArray x, NDArray[] rope) {
        NDList halves = x.split(2, 3);
        NDArray rotated = halves.get(1).neg().concat(halves.get(0), 3);
        return x.mul(rope[0]).add(rotated.mul(rope[1]));
    }

    /** (B, kvHeads, T, d) -> (B, heads, T, d): each key/value head serves {@code groups} query heads. */
    private NDArray repeatKv(NDArray x) {
        int groups = config.groups();
        if (groups == 1) {
            return x;
        }
        Shape s = x.getShape();
        return x.expandDims(2).repeat(2, groups).reshape(s.get(0), s.get(1) * groups, s.get(2), s.get(3));
    }

    private NDArray heads(NDArray x, long b, long t, int h) {
        return x.reshape(b, t, h, config.headDim()).transpose(0, 2, 1, 3);
    }

    /**
     * Names of the parameters that weight decay applies to: the matrices inside the blocks (not
     * embeddings, norms, biases or heads), by their Hugging Face names.
     */
    public List<String> decayedParameters() {
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            String n = e.getKey();
            boolean inBlock = n.contains(".h.") || n.contains(".layers.");
            if (inBlock && e.getValue().getShape().dimension() == 2) {
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
