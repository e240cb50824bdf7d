package io.optune.engine.checkpoint;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Json;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.engine.tokenizer.CharTokenizerFiles;
import io.optune.engine.tokenizer.HfTokenizer;
import io.optune.engine.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.zip.GZIPInputStream;

/**
 * A policy as one Hugging Face checkpoint directory: the model ({@link HfCheckpointWriter}: config,
 * {@code model.safetensors}, generation config) plus its tokenizer files, the same layout the job
 * starts from ({@code optune.policy.checkpoint}) and publishes every version in. One code path for
 * the built-in task and user checkpoints: the built-in char tokenizer is written as generated
 * tokenizer files ({@link CharTokenizerFiles}).
 */
public final class PolicyDirectory {
    /** Tokenizer files copied with a policy (all optional but {@code tokenizer.json}). */
    public static final List<String> TOKENIZER_FILES =
            List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja");

    private PolicyDirectory() {}

    /** A policy's tokenizer files, by name, held in memory so they can be written with every version. */
    public record TokenizerFiles(Map<String, byte[]> files) implements java.io.Serializable {
        public TokenizerFiles {
            files = Collections.unmodifiableMap(new LinkedHashMap<>(files));
        }

        /** The files of a tokenizer directory ({@code tokenizer.json.gz} is unpacked). */
        public static TokenizerFiles read(Path dir) throws IOException {
            Map<String, byte[]> files = new LinkedHashMap<>();
            Path gz = dir.resolve("tokenizer.json.gz");
            if (!Files.isRegularFile(dir.resolve("tokenizer.json")) && Files.isRegularFile(gz)) {
                try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
                    files.put("tokenizer.json", in.readAllBytes());
                }
            }
            for (String name : TOKENIZER_FILES) {
                Path f = dir.resolve(name);
                if (Files.isRegularFile(f)) {
                    files.put(name, Files.readAllBytes(f));
                }
            }
            if (!files.containsKey("tokenizer.json")) {
                throw new CheckpointException(dir + " has no tokenizer.json (or tokenizer.json.gz)");
            }
            return new TokenizerFiles(files);
        }

        /** The files that describe {@code tokenizer}: generated for a char tokenizer, read from its directory otherwise. */
        public static TokenizerFiles of(Tokenizer tokenizer) throws IOException {
            if (tokenizer instanceof CharTokenizer) {
                return new TokenizerFiles(CharTokenizerFiles.files((CharTokenizer) tokenizer));
            }
            if (tokenizer instanceof HfTokenizer) {
                return read(((HfTokenizer) tokenizer).directory());
            }
            throw new IllegalArgumentException("no tokenizer files for " + tokenizer.getClass().getName());
        }
    }

    /** A loaded policy; the caller owns (and closes) the model. */
    public record Loaded(TransformerLM model, Tokenizer tokenizer, TokenizerFiles tokenizerFiles) {}

    /**
     * Writes {@code model} with {@code tokenizer}'s files into {@code out}; the generation config
     * carries the tokenizer's EOS, PAD and BOS ids.
     */
    public static void write(TransformerLM model, Tokenizer tokenizer, TokenizerFiles files, SafeTensorsStream.Dtype dtype,
            CheckpointFiles out) throws IOException {
        checkVocab(tokenizer, model, out.describe());
        List<Integer> eos = new ArrayList<>();
        IntStream.of(tokenizer.eosIds()).forEach(eos::add);
        GenerationSettings generation = new GenerationSettings(eos, tokenizer.padId(),
                tokenizer.bosId().isPresent() ? tokenizer.bosId().getAsInt() : null);
        try {
            HfCheckpointWriter.write(model, generation, out, dtype);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        for (Map.Entry<String, byte[]> f : files.files().entrySet()) {
            try (OutputStream o = out.create(f.getKey())) {
                o.write(f.getValue());
            }
        }
    }

    /** The tokenizer of a local policy directory (the exact {@link CharTokenizer} for generated char files). */
    public static Tokenizer loadTokenizer(Path dir) {
        Path config = dir.resolve("tokenizer_config.json");
        if (Files.isRegularFile(config)) {
            try {
                JsonNode alphabet = Json.MAPPER.readTree(config.toFile()).path(CharTokenizerFiles.ALPHABET_KEY);
                if (alphabet.isTextual()) {
                    return new CharTokenizer(alphabet.asText());
                }
            } catch (IOException e) {
                throw new CheckpointException(config + " is not valid JSON: " + e.getMessage(), e);
            }
        }
        if (!Files.isRegularFile(dir.resolve("tokenizer.json")) && !Files.isRegularFile(dir.resolve("tokenizer.json.gz"))) {
            throw new CheckpointException("the policy checkpoint " + dir + " has no tokenizer (tokenizer.json); copy the "
                    + "model's tokenizer files into it");
        }
        return HfTokenizer.load(dir);
    }

    /** Loads the model and tokenizer of a local policy directory into a sub-manager of {@code manager}. */
    public static Loaded load(Path dir, NDManager manager) throws IOException {
        Tokenizer tokenizer = loadTokenizer(dir);
        TokenizerFiles files = tokenizerFiles(dir, tokenizer);
        HfCheckpoint.Loaded loaded = HfCheckpoint.load(new LocalCheckpointFiles(dir), manager);
        try {
            checkVocab(tokenizer, loaded.model(), dir.toString());
        } catch (RuntimeException e) {
            loaded.model().close();
            throw e;
        }
        return new Loaded(loaded.model(), tokenizer, files);
    }

    /** The tokenizer files to publish with {@code tokenizer}, which was loaded from {@code dir}. */
    public static TokenizerFiles tokenizerFiles(Path dir, Tokenizer tokenizer) throws IOException {
        return tokenizer instanceof CharTokenizer ? TokenizerFiles.of(tokenizer) : TokenizerFiles.read(dir);
    }

    /** A tokenizer may have fewer ids than the embedding (padded vocabularies), never more. */
    static void checkVocab(Tokenizer tokenizer, TransformerLM model, String where) {
        if (tokenizer.vocabSize() > model.config().vocabSize()) {
            throw new CheckpointException("the tokenizer of " + where + " has " + tokenizer.vocabSize()
                    + " ids, more than the model's vocabulary of " + model.config().vocabSize());
        }
    }
}
