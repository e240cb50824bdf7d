package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Json;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.RopePrecision;
import io.optune.engine.model.TransformerLM;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads a Hugging Face checkpoint directory ({@code config.json}, {@code model.safetensors} or a
 * sharded {@code model.safetensors.index.json}, optional {@code generation_config.json}) into a
 * {@link TransformerLM}. Tensors are streamed one at a time straight into engine memory (see
 * {@link SafeTensorsStream}); every shape is checked against the config before its data is read.
 * Tolerated as transformers tolerates them: GPT-2 files without the {@code transformer.} prefix and
 * with {@code attn.bias}/{@code attn.masked_bias} buffers, {@code rotary_emb.inv_freq} buffers, an
 * {@code lm_head.weight} saved beside a tied embedding. Anything else missing or unknown is an error
 * that names the tensors.
 */
public final class HfCheckpoint {
    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    public static final String GENERATION = "generation_config.json";

    private HfCheckpoint() {}

    /** A loaded checkpoint; the caller owns (and closes) the model. */
    public record Loaded(TransformerLM model, GenerationSettings generation) {
        public ModelConfig config() {
            return model.config();
        }
    }

    /** The parsed {@code config.json}. */
    public static ModelConfig readConfig(CheckpointFiles dir) {
        return ModelConfig.fromJson(readJson(dir, CONFIG));
    }

    /** Whether {@code config.json} names a sequence classifier (a reward model with a {@code score} head). */
    public static boolean isRewardModel(CheckpointFiles dir) {
        return isRewardModel(readJson(dir, CONFIG));
    }

    /** The raw {@code config.json} (for fields the model config does not carry, such as {@code pad_token_id}). */
    public static JsonNode readConfigJson(CheckpointFiles dir) {
        return readJson(dir, CONFIG);
    }

    /**
     * A classifier's label count as {@code config.json} states it: {@code num_labels} when present,
     * else the size of {@code id2label}, else -1 (unstated: the stored head's shape then decides).
     */
    public static int labelCount(JsonNode config) {
        if (config.hasNonNull("num_labels")) {
            return config.get("num_labels").asInt();
        }
        if (config.path("id2label").isObject()) {
            return config.get("id2label").size();
        }
        return -1;
    }

    public static boolean isRewardModel(JsonNode config) {
        for (JsonNode a : config.path("architectures")) {
            if (a.asText().endsWith("ForSequenceClassification")) {
                return true;
            }
        }
        return false;
    }

    /** Generation ids from {@code generation_config.json}, else from {@code config.json}. */
    public static GenerationSettings readGeneration(CheckpointFiles dir) {
        try {
            return GenerationSettings.fromJson(readJson(dir, dir.exists(GENERATION) ? GENERATION : CONFIG));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Loads the checkpoint in {@code dir} into a new sub-manager of {@code parent} (its device). */
    public static Loaded load(CheckpointFiles dir, NDManager parent) {
        return load(dir, parent, null);
    }

    /**
     * As {@link #load(CheckpointFiles, NDManager)}, with the RoPE frequencies rounded to
     * {@code ropePrecision} when not null (to reproduce a transformers model that was cast to a
     * half type, see {@link RopePrecision}).
     */
    public static Loaded load(CheckpointFiles dir, NDManager parent, RopePrecision ropePrecision) {
        JsonNode configJson = readJson(dir, CONFIG);
        ModelConfig config;
        try {
            config = ModelConfig.fromJson(configJson);
            if (ropePrecision != null) {
                config = config.withRopePrecision(ropePrecision);
            }
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(dir.describe() + "/" + CONFIG + ": " + e.getMessage(), e);
        }
        boolean scalarHead = isRewardModel(configJson);
        int labels = labelCount(configJson);
        if (scalarHead && labels != -1 && labels != 1) {
            throw new CheckpointException(dir.describe() + " is a sequence classifier with " + labels + " labels (num_labels "
                    + labels + "); a reward model has exactly one (num_labels 1)");
        }
        LinkedHashMap<String, Shape> expected = TransformerLM.parameterShapes(config, scalarHead);
        NDManager owner = parent.newSubManager();
        Map<String, NDArray> arrays = new HashMap<>();
        try {
            Set<String> unknown = new LinkedHashSet<>();
            for (String file : weightFiles(dir)) {
                readFile(dir, file, config, scalarHead, expected, owner, arrays, unknown);
            }
            List<String> missing = new ArrayList<>();
            for (String name : expected.keySet()) {
                if (!arrays.containsKey(name)) {
                    missing.add(name);
                }
            }
            if (!missing.isEmpty()) {
                String head = missing.contains("score.weight")
                        ? " (score.weight is the reward head of a *ForSequenceClassification checkpoint)" : "";
                throw new CheckpointException(dir.describe() + " lacks " + missing.size() + " tensor(s) that a "
                        + config.family().modelType() + " model of this config needs: " + sample(missing) + head);
            }
            if (!unknown.isEmpty()) {
                throw new CheckpointException(dir.describe() + " has " + unknown.size() + " tensor(s) that a "
                        + config.family().modelType() + " model of this config does not have: " + sample(new ArrayList<>(unknown)));
            }
            TransformerLM model = TransformerLM.adopt(config, owner, arrays, scalarHead);
            return new Loaded(model, readGeneration(dir));
        } catch (IOException e) {
            owner.close();
            throw new CheckpointException("cannot read " + dir.describe() + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            owner.close();
            throw e;
        }
    }

    private static void readFile(CheckpointFiles dir, String file, ModelConfig config, boolean scalarHead,
            Map<String, Shape> expected, NDManager owner, Map<String, NDArray> arrays, Set<String> unknown)
            throws IOException {
        String where = dir.describe() + "/" + file;
        try (InputStream in = dir.open(file)) {
            SafeTensorsStream.Header header = SafeTensorsStream.readHeader(in, where, dir.size(file));
            Map<String, String> canonical = new HashMap<>();
            for (SafeTensorsStream.Entry e : header.entries()) {
                String name = canonicalName(e.name(), config, scalarHead);
                if (name == null) {
                    continue;
                }
                Shape want = expected.get(name);
                if (want == null) {
                    unknown.add(e.name());
                    continue;
                }
                if (!e.djlShape().equals(want)) {
                    String head = name.equals("score.weight")
                            ? " (a reward model's head has one output: num_labels 1)" : "";
                    throw new CheckpointException("tensor '" + e.name() + "' in " + where + " has shape " + e.djlShape()
                            + ", config.json needs " + want + head);
                }
                if (arrays.containsKey(name) || canonical.containsValue(name)) {
                    throw new CheckpointException("tensor '" + name + "' appears twice in " + dir.describe());
                }
                canonical.put(e.name(), name);
            }
            SafeTensorsStream.readTensors(in, header, where, owner, canonical::containsKey,
                    (name, array) -> arrays.put(canonical.get(name), array));
        }
    }

    /**
     * The engine's name of a stored tensor, or null for buffers transformers also ignores. Unknown
     * names come back unchanged (and are then refused).
     */
    static String canonicalName(String stored, ModelConfig config, boolean scalarHead) {
        if (config.family().isGpt2()) {
            if (stored.endsWith(".attn.bias") || stored.endsWith(".attn.masked_bias")) {
                return null;
            }
            if (!stored.startsWith("transformer.") && !stored.startsWith("lm_head.") && !stored.startsWith("score.")) {
                stored = "transformer." + stored;
            }
        } else if (stored.endsWith("rotary_emb.inv_freq")) {
            return null;
        }
        if (stored.equals("lm_head.weight") && (config.tiedEmbeddings() || scalarHead)) {
            return null; // a tied head saved anyway: the embedding is the head
        }
        return stored;
    }

    /** The safetensors files of the checkpoint, in shard order. */
    static List<String> weightFiles(CheckpointFiles dir) throws IOException {
        if (dir.exists(WEIGHTS)) {
            return List.of(WEIGHTS);
        }
        if (dir.exists(INDEX)) {
            JsonNode map = readJson(dir, INDEX).path("weight_map");
            if (!map.isObject() || map.isEmpty()) {
                throw new CheckpointException(dir.describe() + "/" + INDEX + " has no weight_map");
            }
            Set<String> files = new LinkedHashSet<>();
            map.fields().forEachRemaining(e -> files.add(e.getValue().asText()));
            for (String f : files) {
                if (f.contains("/") || f.contains("\\") || !f.endsWith(".safetensors")) {
                    throw new CheckpointException(dir.describe() + "/" + INDEX + " names an invalid shard '" + f + "'");
                }
            }
            return new ArrayList<>(files);
        }
        String hint = dir.exists("pytorch_model.bin") ? " (pytorch_model.bin is not supported: convert it to safetensors)" : "";
        throw new CheckpointException(dir.describe() + " has neither " + WEIGHTS + " nor " + INDEX + hint);
    }

    static JsonNode readJson(CheckpointFiles dir, String name) {
        try {
            if (!dir.exists(name)) {
                throw new CheckpointException(dir.describe() + " has no " + name);
            }
            try (InputStream in = dir.open(name)) {
                return Json.MAPPER.readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new CheckpointException(dir.describe() + "/" + name + " is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + dir.describe() + "/" + name + ": " + e.getMessage(), e);
        }
    }

    private static String sample(List<String> names) {
        int n = Math.min(8, names.size());
        String head = String.join(", ", names.subList(0, n));
        return names.size() > n ? head + ", ... (" + (names.size() - n) + " more)" : head;
    }

}
