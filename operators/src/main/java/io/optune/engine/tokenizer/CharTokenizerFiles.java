package io.optune.engine.tokenizer;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.Json;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Hugging Face tokenizer files for a {@link CharTokenizer}, so a policy published with it is a
 * complete checkpoint directory that {@code transformers} and {@link HfTokenizer} can read: a
 * {@code tokenizer.json} with one vocabulary entry per character (a BPE model without merges, a
 * fusing decoder, a BOS-adding post-processor) and a {@code tokenizer_config.json} naming the
 * specials. The config also records the alphabet under {@link #ALPHABET_KEY}, so the job rebuilds the
 * exact {@link CharTokenizer} (which refuses unknown characters instead of dropping them).
 */
public final class CharTokenizerFiles {
    /** Key in {@code tokenizer_config.json} that marks a char tokenizer and carries its alphabet. */
    public static final String ALPHABET_KEY = "optune_char_alphabet";
    static final String PAD = "<pad>";
    static final String BOS = "<s>";
    static final String EOS = "</s>";

    private CharTokenizerFiles() {}

    /** {@code tokenizer.json} and {@code tokenizer_config.json}, by file name. */
    public static Map<String, byte[]> files(CharTokenizer tokenizer) {
        String alphabet = (String) tokenizer.spec().get("alphabet");
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        String[] specials = {PAD, BOS, EOS};
        for (int i = 0; i < specials.length; i++) {
            ObjectNode t = added.addObject();
            t.put("id", i);
            t.put("content", specials[i]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        root.putNull("normalizer");
        root.putNull("pre_tokenizer");
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        post.putArray("single").addObject().putObject("SpecialToken").put("id", BOS).put("type_id", 0);
        ((ArrayNode) post.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", BOS).put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode st = post.putObject("special_tokens").putObject(BOS);
        st.put("id", BOS);
        st.putArray("ids").add(1);
        st.putArray("tokens").add(BOS);
        root.putObject("decoder").put("type", "Fuse");
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < specials.length; i++) {
            vocab.put(specials[i], i);
        }
        for (int i = 0; i < alphabet.length(); i++) {
            vocab.put(String.valueOf(alphabet.charAt(i)), specials.length + i);
        }
        model.putArray("merges");

        ObjectNode config = Json.MAPPER.createObjectNode();
        config.put("tokenizer_class", "PreTrainedTokenizerFast");
        config.put("bos_token", BOS);
        config.put("eos_token", EOS);
        config.put("pad_token", PAD);
        config.put("add_bos_token", true);
        config.put("model_max_length", 1 << 20);
        config.put(ALPHABET_KEY, alphabet);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("tokenizer.json", pretty(root));
        files.put("tokenizer_config.json", pretty(config));
        return files;
    }

    private static byte[] pretty(ObjectNode node) {
        try {
            return Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(node).getBytes(StandardCharsets.UTF_8);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
