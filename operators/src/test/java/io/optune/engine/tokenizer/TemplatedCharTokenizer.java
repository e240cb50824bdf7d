package io.optune.engine.tokenizer;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Test double: the printable-ASCII {@link CharTokenizer} plus a small chat template, so chat prompts
 * can be tested without loading a real model's tokenizer. The template writes each turn as
 * {@code r:content|} (first letter of the role) and ends with the generation prompt {@code a:}.
 */
public final class TemplatedCharTokenizer implements Tokenizer {
    private static final long serialVersionUID = 1L;
    public static final String TEMPLATE = "{% for m in messages %}"
            + "{% if m.role == 'user' %}u{% elif m.role == 'system' %}s{% else %}a{% endif %}:{{ m.content }}|{% endfor %}"
            + "{% if add_generation_prompt %}a:{% endif %}";

    private final CharTokenizer chars = new CharTokenizer();
    private transient ChatTemplate template;

    private ChatTemplate template() {
        if (template == null) {
            template = new ChatTemplate(TEMPLATE, null, null, new ChatTemplate.Limits(100_000, Duration.ofSeconds(60)));
        }
        return template;
    }

    @Override
    public int vocabSize() {
        return chars.vocabSize();
    }

    @Override
    public int padId() {
        return chars.padId();
    }

    @Override
    public OptionalInt bosId() {
        return chars.bosId();
    }

    @Override
    public int[] eosIds() {
        return chars.eosIds();
    }

    @Override
    public int[] encode(String text) {
        return chars.encode(text);
    }

    @Override
    public String decode(int[] ids) {
        return chars.decode(ids);
    }

    @Override
    public boolean hasChatTemplate() {
        return true;
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages) {
        return chars.encode(template().render(messages));
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return chars.encode(template().render(messages, addGenerationPrompt));
    }

    @Override
    public Map<String, Object> spec() {
        return Map.of("type", "test-templated-char");
    }
}
