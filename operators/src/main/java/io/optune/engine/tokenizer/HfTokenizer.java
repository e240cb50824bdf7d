package io.optune.engine.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.InvalidInputException;
import io.optune.engine.Json;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectStreamException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * A Hugging Face tokenizer directory: {@code tokenizer.json} (or {@code tokenizer.json.gz}) run by
 * the Rust {@code tokenizers} library through DJL, plus the optional {@code tokenizer_config.json}
 * (special tokens, {@code add_bos_token}, the chat template) and {@code generation_config.json}
 * ({@code eos_token_id}, possibly a list; {@code pad_token_id}). {@code chat_template.jinja}, when
 * present, takes precedence over the config's template, as in {@code transformers}.
 *
 * <p>Where the special ids come from:
 * <ul>
 *   <li>BOS: {@code add_bos_token} and {@code bos_token} of the config when it says; otherwise
 *       whatever the tokenizer's post-processor puts before a text (Llama's template processor
 *       adds one, GPT-2's and Qwen's add none).
 *   <li>EOS: the config's {@code eos_token} first (the id appended to stored responses), then the
 *       generation config's ids; with neither, the only special added token (GPT-2's
 *       {@code <|endoftext|>}), else loading fails.
 *   <li>PAD: the config's {@code pad_token}, then the generation config's {@code pad_token_id},
 *       else the first EOS (padded positions are masked out, so any valid id serves).
 * </ul>
 *
 * <p>Special-token policy (see {@link Tokenizer}): {@link #encode} runs a second copy of the
 * tokenizer from which the special added tokens are removed, so text spelling
 * {@code <|endoftext|>} is encoded as the plain characters it is (as GPT-2's reference encoder
 * does; {@code transformers} would emit the special id). Non-special added tokens (Qwen's
 * {@code <think>}) stay: they are ordinary vocabulary. In chat prompts, special-token spellings in
 * message contents are shielded before rendering and encoded as plain text, so only the template's
 * markup becomes special tokens.
 *
 * <p>{@link #spec()} names the directory and one SHA-256 over the files read from it; a snapshot
 * rebuilds the tokenizer from there (the directory must be readable wherever the snapshot is
 * loaded) and refuses changed files. Instances are cached per directory and file hash and live as long as the
 * JVM (the native tokenizers are never closed).
 */
public final class HfTokenizer implements Tokenizer {
    private static final long serialVersionUID = 1L;
    public static final String TYPE = "huggingface";

    private static final Map<String, HfTokenizer> CACHE = new ConcurrentHashMap<>();
    // No truncation or padding: prompt length limits are enforced by PromptEncoder, with a reason.
    private static final Map<String, String> OPTIONS = Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");
    private static final List<ChatMessage> PROBE = List.of(ChatMessage.user("Hello"));

    private final Path dir;
    private final String sha256;
    private final transient HuggingFaceTokenizer full;
    private final transient HuggingFaceTokenizer plain;
    private final int vocabSize;
    private final OptionalInt bos;
    private final int[] eos;
    private final int pad;
    private final BitSet specialIds;
    private final List<String> specialTexts;
    private final transient ChatTemplate chatTemplate;

    private HfTokenizer(Path dir, String sha256, byte[] tokenizerJson, ChatTemplate.Limits limits) throws IOException {
        this.dir = dir;
        this.sha256 = sha256;
        JsonNode root = Json.MAPPER.readTree(tokenizerJson);
        JsonNode config = readOptional(dir.resolve("tokenizer_config.json"));
        JsonNode generation = readOptional(dir.resolve("generation_config.json"));

        Map<String, Integer> added = new LinkedHashMap<>();
        specialIds = new BitSet();
        List<String> specials = new ArrayList<>();
        ArrayNode keptAdded = Json.MAPPER.createArrayNode();
        int maxId = -1;
        for (JsonNode t : root.path("added_tokens")) {
            int id = t.path("id").asInt(-1);
            String content = t.path("content").asText();
            added.put(content, id);
            maxId = Math.max(maxId, id);
            if (t.path("special").asBoolean(false)) {
                specialIds.set(id);
                specials.add(content);
            } else {
                keptAdded.add(t);
            }
        }
        specials.sort(Comparator.comparingInt(String::length).reversed()); // longest match first
        specialTexts = List.copyOf(specials);
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) {
            for (JsonNode id : vocab) {
                maxId = Math.max(maxId, id.asInt());
            }
        } else if (vocab.isArray()) {
            maxId = Math.max(maxId, vocab.size() - 1); // Unigram: [piece, score] by id
        }
        if (maxId < 0) {
            throw new IllegalArgumentException("tokenizer.json in " + dir + " has no vocabulary");
        }
        vocabSize = maxId + 1;

        full = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(tokenizerJson), OPTIONS);
        // The copy for user text has no special added tokens, so nothing in a text can match them. The
        // library numbers added tokens afresh from the model vocabulary's size, so each removed one moves
        // into the model vocabulary under its id to keep every later id where it was (pre-tokenizers
        // split such spellings apart, and encode() refuses any special id that still comes out).
        ObjectNode plainJson = ((ObjectNode) root).deepCopy();
        plainJson.set("added_tokens", keptAdded);
        JsonNode plainVocab = plainJson.path("model").path("vocab");
        for (JsonNode t : root.path("added_tokens")) {
            if (plainVocab.isObject() && !plainVocab.has(t.path("content").asText())) {
                ((ObjectNode) plainVocab).put(t.path("content").asText(), t.path("id").asInt());
            }
        }
        plain = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(Json.MAPPER.writeValueAsBytes(plainJson)), OPTIONS);
        for (JsonNode t : keptAdded) {
            long[] got = plain.encode(t.path("content").asText(), false, false).getIds();
            if (got.length != 1 || got[0] != t.path("id").asInt()) {
                throw new IllegalArgumentException("added token '" + t.path("content").asText() + "' of the tokenizer in " + dir
                        + " does not keep its id " + t.path("id").asInt() + " without the special tokens; unsupported vocabulary layout");
            }
        }

        // BOS
        String bosText = tokenText(config.get("bos_token"));
        JsonNode addBos = config.get("add_bos_token");
        if (addBos != null && addBos.isBoolean()) {
            bos = addBos.asBoolean() ? OptionalInt.of(idOf("bos_token", bosText, added, vocab)) : OptionalInt.empty();
        } else {
            bos = postProcessorBos();
        }
        // EOS
        LinkedHashSet<Integer> eosIds = new LinkedHashSet<>();
        String eosText = tokenText(config.get("eos_token"));
        if (eosText != null) {
            eosIds.add(idOf("eos_token", eosText, added, vocab));
        }
        JsonNode genEos = generation.get("eos_token_id");
        if (genEos != null && genEos.isInt()) {
            eosIds.add(genEos.asInt());
        } else if (genEos != null && genEos.isArray()) {
            genEos.forEach(e -> eosIds.add(e.asInt()));
        }
        if (eosIds.isEmpty() && specials.size() == 1) {
            eosText = specials.get(0);
            eosIds.add(added.get(eosText));
        }
        if (eosIds.isEmpty()) {
            throw new IllegalArgumentException("no EOS token for the tokenizer in " + dir
                    + ": set eos_token in tokenizer_config.json or eos_token_id in generation_config.json");
        }
        eos = eosIds.stream().mapToInt(Integer::intValue).toArray();
        if (eosText == null) {
            eosText = textOf(eos[0]);
        }
        // PAD
        String padText = tokenText(config.get("pad_token"));
        JsonNode genPad = generation.get("pad_token_id");
        if (padText != null) {
            pad = idOf("pad_token", padText, added, vocab);
        } else if (genPad != null && genPad.isInt()) {
            pad = genPad.asInt();
        } else {
            pad = eos[0];
        }
        for (int id : eos) {
            checkId("eos", id);
        }
        checkId("pad", pad);
        if (bos.isPresent()) {
            checkId("bos", bos.getAsInt());
        }
        // Chat template
        String template = chatTemplateSource(config);
        if (template == null) {
            chatTemplate = null;
        } else {
            try {
                ChatTemplate t = new ChatTemplate(template, bosText, eosText, limits);
                t.render(PROBE);
                chatTemplate = t;
            } catch (ChatTemplateException e) {
                throw new IllegalArgumentException("the chat template in " + dir + " cannot render a one-message conversation: " + e.getMessage(), e);
            }
        }
    }

    /**
     * Loads (or reuses) the tokenizer in {@code dir} with the default chat-template limits.
     *
     * @throws IllegalArgumentException when the directory holds no usable tokenizer
     */
    public static HfTokenizer load(Path dir) {
        return load(dir, ChatTemplate.Limits.DEFAULT);
    }

    public static HfTokenizer load(Path dir, ChatTemplate.Limits limits) {
        Path abs = dir.toAbsolutePath().normalize();
        Path file = abs.resolve("tokenizer.json");
        boolean gz = false;
        if (!Files.isRegularFile(file)) {
            file = abs.resolve("tokenizer.json.gz");
            gz = true;
        }
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("no tokenizer.json (or tokenizer.json.gz) in " + abs);
        }
        try {
            byte[] raw = Files.readAllBytes(file);
            String sha = filesSha256(abs, raw);
            String key = abs + "@" + sha + "@" + limits;
            HfTokenizer cached = CACHE.get(key);
            if (cached != null) {
                return cached;
            }
            byte[] json = gz ? gunzip(raw) : raw;
            HfTokenizer t = new HfTokenizer(abs, sha, json, limits);
            HfTokenizer raced = CACHE.putIfAbsent(key, t);
            return raced == null ? t : raced;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the tokenizer in " + abs, e);
        }
    }

    /** The files a tokenizer is built from, in this order; all but the first are optional. */
    private static final List<String> CONFIG_FILES = List.of("tokenizer_config.json", "generation_config.json", "chat_template.jinja");

    /** One hash over the tokenizer file and the optional config files, so a changed config is noticed too. */
    private static String filesSha256(Path dir, byte[] tokenizerFile) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(tokenizerFile);
            for (String name : CONFIG_FILES) {
                Path f = dir.resolve(name);
                md.update((byte) 0);
                md.update(name.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                if (Files.isRegularFile(f)) {
                    md.update((byte) 1);
                    md.update(Files.readAllBytes(f));
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Rebuilds from {@link #spec()}, refusing a tokenizer file that changed since. */
    static HfTokenizer fromSpec(Map<String, ?> spec) {
        Object path = spec.get("path");
        if (!(path instanceof String) || ((String) path).isBlank()) {
            throw new IllegalArgumentException("huggingface tokenizer spec needs a string 'path'");
        }
        String p = (String) path;
        HfTokenizer t = load(p.startsWith("file:") ? Path.of(java.net.URI.create(p)) : Path.of(p));
        Object sha = spec.get("sha256");
        if (sha != null && !sha.equals(t.sha256)) {
            throw new IllegalArgumentException("the tokenizer file in " + p + " changed since this spec was written (sha256 "
                    + t.sha256 + ", expected " + sha + ")");
        }
        return t;
    }

    private OptionalInt postProcessorBos() {
        long[] with = full.encode("a", true, false).getIds();
        long[] without = full.encode("a", false, false).getIds();
        int leading = -1;
        for (int lead = 0; lead + without.length <= with.length && leading < 0; lead++) {
            if (Arrays.equals(Arrays.copyOfRange(with, lead, lead + without.length), without)) {
                leading = lead;
            }
        }
        if (leading < 0) {
            throw new IllegalArgumentException("the post-processor of the tokenizer in " + dir + " rewrites a text's ids; unsupported");
        }
        if (leading > 1) {
            throw new IllegalArgumentException("the post-processor of the tokenizer in " + dir + " puts " + leading
                    + " tokens before a text; only a single BOS is supported");
        }
        // Tokens it appends (such as an EOS) are ignored: a prompt must stay open for the response.
        return leading == 1 ? OptionalInt.of((int) with[0]) : OptionalInt.empty();
    }

    private String chatTemplateSource(JsonNode config) throws IOException {
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            return Files.readString(jinja);
        }
        JsonNode t = config.get("chat_template");
        if (t == null || t.isNull()) {
            return null;
        }
        if (t.isTextual()) {
            return t.asText();
        }
        if (t.isArray()) { // named templates: [{"name": "default", "template": "..."}, ...]
            JsonNode first = null;
            for (JsonNode named : t) {
                first = first == null ? named : first;
                if ("default".equals(named.path("name").asText())) {
                    return named.path("template").asText();
                }
            }
            return first == null ? null : first.path("template").asText(null);
        }
        throw new IllegalArgumentException("chat_template in " + dir + " is neither a string nor a list of named templates");
    }

    private int idOf(String what, String text, Map<String, Integer> added, JsonNode vocab) {
        if (text == null) {
            throw new IllegalArgumentException(what + " is not set for the tokenizer in " + dir);
        }
        Integer id = added.get(text);
        if (id == null && vocab.isObject() && vocab.has(text)) {
            id = vocab.get(text).asInt();
        }
        if (id == null) {
            throw new IllegalArgumentException(what + " '" + text + "' is not in the vocabulary of the tokenizer in " + dir);
        }
        return id;
    }

    private void checkId(String what, int id) {
        if (id < 0 || id >= vocabSize) {
            throw new IllegalArgumentException(what + " id " + id + " is outside the vocabulary of " + vocabSize + " (" + dir + ")");
        }
    }

    private String textOf(int id) {
        return full.decode(new long[] {id}, false);
    }

    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.asText();
        }
        JsonNode content = n.get("content"); // AddedToken form
        return content != null && content.isTextual() ? content.asText() : null;
    }

    private static JsonNode readOptional(Path file) throws IOException {
        return Files.isRegularFile(file) ? Json.MAPPER.readTree(file.toFile()) : Json.MAPPER.createObjectNode();
    }

    private static byte[] gunzip(byte[] raw) throws IOException {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
            return in.readAllBytes();
        }
    }

    public Path directory() {
        return dir;
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int padId() {
        return pad;
    }

    @Override
    public OptionalInt bosId() {
        return bos;
    }

    @Override
    public int[] eosIds() {
        return eos.clone();
    }

    @Override
    public int eosId() {
        return eos[0];
    }

    /** Whether {@code id} is a special token (control token of the tokenizer). */
    public boolean isSpecial(int id) {
        return id >= 0 && specialIds.get(id);
    }

    @Override
    public int[] encode(String text) {
        int[] ids = toInts(plain.encode(text, false, false).getIds());
        for (int id : ids) {
            if (specialIds.get(id)) {
                // The special added tokens are gone from this copy; a vocabulary that still reaches a
                // special id from plain text breaks the policy, so refuse rather than pass it on.
                throw new InvalidInputException("special-token-in-text", "text encodes to special token id " + id);
            }
        }
        return ids;
    }

    @Override
    public boolean hasChatTemplate() {
        return chatTemplate != null;
    }

    /** The chat template, or null. */
    public ChatTemplate chatTemplate() {
        return chatTemplate;
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages) {
        return encodeChat(messages, true);
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        if (chatTemplate == null) {
            return Tokenizer.super.encodeChat(messages);
        }
        Shield shield = new Shield(messages);
        String rendered;
        try {
            rendered = chatTemplate.render(shield.messages, addGenerationPrompt);
        } catch (ChatTemplateException e) {
            throw new InvalidInputException("chat-template-error", e.getMessage());
        }
        if (shield.originals.isEmpty()) {
            return toInts(full.encode(rendered, false, false).getIds());
        }
        // Template text keeps its special tokens; each shielded spelling goes back in as plain text.
        List<int[]> parts = new ArrayList<>();
        Matcher m = shield.pattern.matcher(rendered);
        int from = 0;
        while (m.find()) {
            if (m.start() > from) {
                parts.add(toInts(full.encode(rendered.substring(from, m.start()), false, false).getIds()));
            }
            parts.add(encode(shield.originals.get(Integer.parseInt(m.group(1)))));
            from = m.end();
        }
        if (from < rendered.length()) {
            parts.add(toInts(full.encode(rendered.substring(from), false, false).getIds()));
        }
        int n = parts.stream().mapToInt(p -> p.length).sum();
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    /** Message contents with every special-token spelling replaced by a private placeholder. */
    private final class Shield {
        final List<ChatMessage> messages = new ArrayList<>();
        final List<String> originals = new ArrayList<>();
        final Pattern pattern;

        Shield(List<ChatMessage> in) {
            String nonce = nonceNotIn(in);
            pattern = Pattern.compile("\uE000" + nonce + "(\\d+)\uE001");
            for (ChatMessage msg : in) {
                messages.add(new ChatMessage(msg.role(), shield(msg.content(), nonce)));
            }
        }

        private String shield(String content, String nonce) {
            if (content == null || specialTexts.isEmpty()) {
                return content;
            }
            StringBuilder sb = null;
            int from = 0;
            int i = 0;
            while (i < content.length()) {
                String hit = null;
                for (String s : specialTexts) {
                    if (!s.isEmpty() && content.startsWith(s, i)) {
                        hit = s;
                        break;
                    }
                }
                if (hit == null) {
                    i++;
                    continue;
                }
                if (sb == null) {
                    sb = new StringBuilder(content.length() + 32);
                }
                sb.append(content, from, i).append('\uE000').append(nonce).append(originals.size()).append('\uE001');
                originals.add(hit);
                i += hit.length();
                from = i;
            }
            return sb == null ? content : sb.append(content, from, content.length()).toString();
        }
    }

    private static String nonceNotIn(List<ChatMessage> messages) {
        while (true) {
            String nonce = Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
            boolean clash = false;
            for (ChatMessage m : messages) {
                clash |= m.content() != null && m.content().contains(nonce);
            }
            if (!clash) {
                return nonce;
            }
        }
    }

    @Override
    public String decode(int[] ids) {
        int end = 0;
        while (end < ids.length && !isEos(ids[end])) {
            end++;
        }
        long[] kept = Arrays.stream(ids, 0, end).filter(id -> id >= 0 && id < vocabSize).asLongStream().toArray();
        return full.decode(kept, true);
    }

    @Override
    public boolean isEos(int id) {
        for (int e : eos) {
            if (e == id) {
                return true;
            }
        }
        return false;
    }

    @Override
    public Map<String, Object> spec() {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("type", TYPE);
        spec.put("path", dir.toString());
        spec.put("sha256", sha256);
        return spec;
    }

    /** The ids the rendered template text (special tokens included) encodes to; for tests and tools. */
    int[] encodeWithSpecialTokens(String text) {
        return toInts(full.encode(text, false, false).getIds());
    }

    private static int[] toInts(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HfTokenizer && ((HfTokenizer) o).dir.equals(dir) && ((HfTokenizer) o).sha256.equals(sha256);
    }

    @Override
    public int hashCode() {
        return dir.hashCode() * 31 + sha256.hashCode();
    }

    @Override
    public String toString() {
        return "HfTokenizer[" + dir + ", vocab " + vocabSize + "]";
    }

    // Java serialisation (Flink ships functions holding a tokenizer) carries the spec only; the
    // receiving JVM loads the files again (through the cache).
    private Object writeReplace() throws ObjectStreamException {
        return new SerializedForm(spec());
    }

    private static final class SerializedForm implements Serializable {
        private static final long serialVersionUID = 1L;
        private final LinkedHashMap<String, Object> spec;

        SerializedForm(Map<String, Object> spec) {
            this.spec = new LinkedHashMap<>(spec);
        }

        private Object readResolve() throws ObjectStreamException {
            return fromSpec(spec);
        }
    }
}
