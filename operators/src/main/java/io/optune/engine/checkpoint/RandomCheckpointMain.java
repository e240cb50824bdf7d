package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Json;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.engine.tokenizer.CharTokenizerFiles;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Writes a randomly initialised Hugging Face checkpoint of a named {@link CheckpointShape}, for smoke
 * runs and benchmarks (no model hub is reachable here):
 *
 * <pre>
 *   --shape gpt2-small|gpt2-mini|llama-small|qwen3-small   (required)
 *   --out DIR                 a new or empty directory (required; nothing is overwritten)
 *   --dtype f32|f16|bf16      stored dtype (default f32)
 *   --tokenizer DIR|char      copy tokenizer.json (or tokenizer.json.gz unpacked), tokenizer_config.json,
 *                             special_tokens_map.json and chat_template.jinja from DIR (the vocabulary
 *                             size and EOS then come from it), or write the built-in character
 *                             tokenizer's generated files ({@code char}); with a tokenizer the directory
 *                             is a complete policy checkpoint for {@code optune.policy.checkpoint}
 *   --vocab N                 vocabulary size without a tokenizer (default: the shape's)
 *   --eos ID                  end-of-sequence id (default: the tokenizer's eos_token)
 *   --seed N                  initialisation seed (default 0)
 *   --reward true|false       a reward model (*ForSequenceClassification, num_labels 1, a score
 *                             head instead of the LM head; pad_token_id = EOS) (default false)
 * </pre>
 */
public final class RandomCheckpointMain {
    private RandomCheckpointMain() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> opts = parse(args);
        Path out = Path.of(required(opts, "out"));
        CheckpointShape shape = CheckpointShape.of(required(opts, "shape"));
        SafeTensorsStream.Dtype dtype = SafeTensorsStream.Dtype.valueOf(opts.getOrDefault("dtype", "f32").toUpperCase(Locale.ROOT));
        Path tokenizer = opts.containsKey("tokenizer") ? Path.of(opts.get("tokenizer")) : null;
        long seed = Long.parseLong(opts.getOrDefault("seed", "0"));
        long t0 = System.nanoTime();
        ModelConfig config = write(shape, out, dtype, tokenizer,
                opts.containsKey("vocab") ? Integer.parseInt(opts.get("vocab")) : null,
                opts.containsKey("eos") ? Integer.parseInt(opts.get("eos")) : null, seed,
                Boolean.parseBoolean(opts.getOrDefault("reward", "false")));
        System.out.printf("wrote %s (%s, %s, vocab %d) to %s in %.1f s%n", shape.id(), config.family().modelType(),
                HfCheckpointWriter.torchName(dtype), config.vocabSize(), out, (System.nanoTime() - t0) / 1e9);
    }

    /** Writes a causal-LM checkpoint and returns its config. */
    public static ModelConfig write(CheckpointShape shape, Path out, SafeTensorsStream.Dtype dtype, Path tokenizerDir,
            Integer vocabOverride, Integer eosOverride, long seed) throws IOException {
        return write(shape, out, dtype, tokenizerDir, vocabOverride, eosOverride, seed, false);
    }

    /** Writes the checkpoint (a reward model when {@code reward}) and returns its config. */
    public static ModelConfig write(CheckpointShape shape, Path out, SafeTensorsStream.Dtype dtype, Path tokenizerDir,
            Integer vocabOverride, Integer eosOverride, long seed, boolean reward) throws IOException {
        if (Files.exists(out)) {
            try (var entries = Files.list(out)) {
                if (entries.findAny().isPresent()) {
                    throw new IllegalArgumentException(out + " is not empty; choose a new directory");
                }
            }
        }
        Files.createDirectories(out);
        int vocab = shape.defaultVocab();
        Integer eos = eosOverride;
        Integer pad = null;
        Integer bos = null;
        if (tokenizerDir != null && tokenizerDir.toString().equals(CHAR) && !Files.isDirectory(tokenizerDir)) {
            CharTokenizer chars = new CharTokenizer();
            for (Map.Entry<String, byte[]> f : CharTokenizerFiles.files(chars).entrySet()) {
                Files.write(out.resolve(f.getKey()), f.getValue());
            }
            if (vocabOverride == null && vocab < chars.vocabSize()) {
                vocab = chars.vocabSize();
            }
            eos = eos == null ? chars.eosId() : eos;
            pad = chars.padId();
            bos = chars.bosId().getAsInt();
        } else if (tokenizerDir != null) {
            JsonNode tok = copyTokenizer(tokenizerDir, out);
            vocab = vocabSize(tok);
            if (eos == null) {
                eos = eosId(tok, out.resolve("tokenizer_config.json"));
            }
        }
        if (vocabOverride != null) {
            vocab = vocabOverride;
        }
        ModelConfig config = shape.config(vocab);
        // A reward model pads with EOS, as GPT-2 reward models do (transformers then reads the score
        // before a trailing EOS); a policy pads as its tokenizer says.
        GenerationSettings gen = new GenerationSettings(eos == null ? List.of() : List.of(eos), reward ? eos : pad, bos);
        try (NDManager manager = NDManager.newBaseManager();
                TransformerLM model = TransformerLM.create(config, manager, seed, reward)) {
            HfCheckpointWriter.write(model, gen, new LocalCheckpointFiles(out), dtype);
        }
        return config;
    }

    /** {@code --tokenizer char}: the built-in character tokenizer. */
    static final String CHAR = "char";

    private static JsonNode copyTokenizer(Path from, Path to) throws IOException {
        Path plain = from.resolve("tokenizer.json");
        Path gz = from.resolve("tokenizer.json.gz");
        if (Files.isRegularFile(plain)) {
            Files.copy(plain, to.resolve("tokenizer.json"));
        } else if (Files.isRegularFile(gz)) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(gz));
                    OutputStream o = Files.newOutputStream(to.resolve("tokenizer.json"))) {
                in.transferTo(o);
            }
        } else {
            throw new IllegalArgumentException(from + " has no tokenizer.json (or tokenizer.json.gz)");
        }
        for (String extra : List.of("tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")) {
            if (Files.isRegularFile(from.resolve(extra))) {
                Files.copy(from.resolve(extra), to.resolve(extra));
            }
        }
        return Json.MAPPER.readTree(to.resolve("tokenizer.json").toFile());
    }

    /** One more than the largest id of the tokenizer's vocabulary and added tokens. */
    static int vocabSize(JsonNode tokenizer) {
        int max = -1;
        JsonNode vocab = tokenizer.path("model").path("vocab");
        if (vocab.isObject()) {
            for (JsonNode id : (Iterable<JsonNode>) vocab::elements) {
                max = Math.max(max, id.asInt());
            }
        } else if (vocab.isArray()) { // Unigram: [[piece, score], ...]
            max = vocab.size() - 1;
        }
        for (JsonNode t : tokenizer.path("added_tokens")) {
            max = Math.max(max, t.path("id").asInt());
        }
        if (max < 0) {
            throw new IllegalArgumentException("tokenizer.json has no vocabulary");
        }
        return max + 1;
    }

    /** Common end-of-text tokens, for a tokenizer without {@code tokenizer_config.json}. */
    private static final List<String> KNOWN_EOS = List.of("<|endoftext|>", "</s>", "<|im_end|>", "<eos>");

    private static Integer eosId(JsonNode tokenizer, Path config) throws IOException {
        String text = null;
        if (Files.isRegularFile(config)) {
            JsonNode eos = Json.MAPPER.readTree(config.toFile()).path("eos_token");
            text = eos.isObject() ? eos.path("content").asText(null) : eos.asText(null);
        }
        if (text == null) {
            for (JsonNode t : tokenizer.path("added_tokens")) {
                if (KNOWN_EOS.contains(t.path("content").asText())) {
                    return t.path("id").asInt();
                }
            }
            return null;
        }
        for (JsonNode t : tokenizer.path("added_tokens")) {
            if (text.equals(t.path("content").asText())) {
                return t.path("id").asInt();
            }
        }
        JsonNode id = tokenizer.path("model").path("vocab").path(text);
        return id.canConvertToInt() ? id.asInt() : null;
    }

    private static Map<String, String> parse(String[] args) {
        List<String> words = new ArrayList<>();
        for (String a : args) {
            for (String w : a.trim().split("\\s+")) {
                if (!w.isEmpty()) {
                    words.add(w);
                }
            }
        }
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            if (!w.startsWith("--")) {
                throw new IllegalArgumentException("expected --option, got '" + w + "'");
            }
            String key = w.substring(2);
            String value;
            if (key.contains("=")) {
                value = key.substring(key.indexOf('=') + 1);
                key = key.substring(0, key.indexOf('='));
            } else if (i + 1 < words.size()) {
                value = words.get(++i);
            } else {
                throw new IllegalArgumentException("--" + key + " needs a value");
            }
            if (!List.of("shape", "out", "dtype", "tokenizer", "vocab", "eos", "seed", "reward").contains(key)) {
                throw new IllegalArgumentException("unknown option --" + key);
            }
            opts.put(key, value);
        }
        return opts;
    }

    private static String required(Map<String, String> opts, String key) {
        String v = opts.get(key);
        if (v == null) {
            throw new IllegalArgumentException("--" + key + " is required");
        }
        return v;
    }
}
