package io.optune.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Json;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Jinjava renders real chat templates as Python's Jinja does: Qwen3's template (namespace(),
 * reversed loops, str methods, whitespace control) against renderings made with Jinja2
 * ({@code hf/chat/make_chat_reference.py}), and hostile or broken templates fail with clear errors
 * within their bounds.
 */
class ChatTemplateTest {
    // Generous time: the machine running the tests may be loaded; only the timeout test is tight.
    private static final ChatTemplate.Limits FAST = new ChatTemplate.Limits(10_000, Duration.ofSeconds(60));

    static JsonNode resource(String path) throws Exception {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream(path)) {
            return Json.MAPPER.readTree(in);
        }
    }

    static List<ChatMessage> messages(JsonNode array) {
        List<ChatMessage> out = new ArrayList<>();
        array.forEach(m -> out.add(new ChatMessage(m.get("role").asText(), m.get("content").asText())));
        return out;
    }

    @Test
    void qwen3TemplateRendersLikePythonJinja() throws Exception {
        String source = resource("/hf/tokenizers/qwen3/tokenizer_config.json").get("chat_template").asText();
        ChatTemplate template = new ChatTemplate(source, null, "<|im_end|>", ChatTemplate.Limits.DEFAULT);
        JsonNode cases = resource("/hf/chat/qwen3_chat_reference.json");
        assertThat(cases.size()).isGreaterThanOrEqualTo(9);
        for (JsonNode c : cases) {
            assertThat(template.render(messages(c.get("messages"))))
                    .as("rendering of %s", c.get("messages"))
                    .isEqualTo(c.get("rendered").asText());
        }
    }

    @Test
    void llamaStyleTemplateRendersLikePythonJinja() throws Exception {
        String source;
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/hf/chat/llama_style_template.jinja")) {
            source = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        ChatTemplate template = new ChatTemplate(source, "<|begin_of_text|>", "<|eot_id|>", ChatTemplate.Limits.DEFAULT);
        JsonNode cases = resource("/hf/chat/llama_style_chat_reference.json");
        assertThat(cases.size()).isEqualTo(3);
        for (JsonNode c : cases) {
            assertThat(template.render(messages(c.get("messages")))).isEqualTo(c.get("rendered").asText());
        }
        assertThatThrownBy(() -> template.render(List.of(ChatMessage.user("a"), ChatMessage.user("b"))))
                .hasMessageContaining("Conversation roles must alternate");
    }

    @Test
    void oneParsedTemplateRendersConcurrently() throws Exception {
        String source = resource("/hf/tokenizers/qwen3/tokenizer_config.json").get("chat_template").asText();
        ChatTemplate template = new ChatTemplate(source, null, "<|im_end|>", ChatTemplate.Limits.DEFAULT);
        JsonNode cases = resource("/hf/chat/qwen3_chat_reference.json");
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
        try {
            List<java.util.concurrent.Future<Boolean>> results = new ArrayList<>();
            for (int round = 0; round < 8; round++) {
                for (JsonNode c : cases) {
                    results.add(pool.submit(() -> template.render(messages(c.get("messages"))).equals(c.get("rendered").asText())));
                }
            }
            for (java.util.concurrent.Future<Boolean> r : results) {
                assertThat(r.get()).isTrue();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void specialTokensAndPythonStringMethodsAreAvailable() {
        ChatTemplate t = new ChatTemplate(
                "{{ bos_token }}{% for m in messages %}{{ m.role|upper }}:{{ m.content.strip(' ').split(',')[-1].lstrip() }}"
                        + "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}>{% endif %}",
                "<s>", "</s>", FAST);
        assertThat(t.render(List.of(ChatMessage.user("  a, b|c  ")))).isEqualTo("<s>USER:b|c</s>>");
    }

    @Test
    void raiseExceptionReachesTheCaller() {
        ChatTemplate t = new ChatTemplate(
                "{% if messages[0].role != 'system' %}{{ raise_exception('Conversation must start with a system turn') }}{% endif %}ok",
                null, null, FAST);
        assertThat(t.render(List.of(ChatMessage.system("s")))).isEqualTo("ok");
        assertThatThrownBy(() -> t.render(List.of(ChatMessage.user("u"))))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("Conversation must start with a system turn");
    }

    @Test
    void outputBombIsStoppedAtTheSizeLimit() {
        ChatTemplate t = new ChatTemplate("{% for i in range(100000) %}0123456789{% endfor %}", null, null, FAST);
        assertThatThrownBy(() -> t.render(List.of(ChatMessage.user("u"))))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("chat template failed");
    }

    @Test
    void slowTemplateIsStoppedAtTheTimeLimit() {
        ChatTemplate t = new ChatTemplate(
                "{% for a in range(100000) %}{% for b in range(100000) %}{% if a == b %}{% endif %}{% endfor %}{% endfor %}",
                null, null, new ChatTemplate.Limits(10_000, Duration.ofMillis(200)));
        long start = System.nanoTime();
        assertThatThrownBy(() -> t.render(List.of(ChatMessage.user("u"))))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("time limit");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
    }

    @Test
    void templatesCannotReachFilesClassesOrRecurse() {
        // log4j2-test.properties is on the test classpath, where Jinjava's default locator would find it.
        for (String hostile : List.of("{% include 'log4j2-test.properties' %}", "{% import 'log4j2-test.properties' as x %}{{ x }}",
                "{% from 'log4j2-test.properties' import y %}{{ y() }}")) {
            assertThatThrownBy(() -> new ChatTemplate(hostile, null, null, FAST).render(List.of(ChatMessage.user("u"))))
                    .as(hostile)
                    .isInstanceOf(ChatTemplateException.class)
                    .hasMessageContaining("cannot include or import");
        }
        assertThatThrownBy(() -> new ChatTemplate("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}", null, null, FAST)
                .render(List.of(ChatMessage.user("u")))).isInstanceOf(ChatTemplateException.class).hasMessageContaining("recursion");
        // Reflection through the strings a template holds is closed by Jinjava's restricted methods.
        assertThatThrownBy(() -> new ChatTemplate("{{ messages[0].content.getClass() }}", null, null, FAST)
                .render(List.of(ChatMessage.user("u")))).isInstanceOf(ChatTemplateException.class);
        // Nor can a template call Java methods on the values it holds (a memory bomb, mutating its input).
        for (String hostile : List.of("{{ messages[0].content.repeat(2000000000) }}", "{{ messages.clear() }}{{ messages|length }}",
                "{{ messages[0].content.getBytes() }}", "{{ messages.getClass().forName('java.lang.Runtime') }}",
                "{{ messages[0].hashCode() }}", "{% set s = 'ab' %}{% for i in range(40) %}{% set s = s.replace('', s) %}{% endfor %}{{ s|length }}")) {
            assertThatThrownBy(() -> new ChatTemplate(hostile, null, null, FAST).render(List.of(ChatMessage.user("u"))))
                    .as(hostile).isInstanceOf(ChatTemplateException.class);
        }
        // Python dict methods stay available.
        assertThat(new ChatTemplate("{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}", null, null, FAST)
                .render(List.of(ChatMessage.user("u")))).contains("role=user").contains("content=u");
        String out = new ChatTemplate("{{ messages[0].content.class }}|{{ messages[0].class }}", null, null, FAST)
                .render(List.of(ChatMessage.user("u")));
        assertThat(out).doesNotContain("java.");
    }

    @Test
    void malformedTemplatesFailClearly() {
        for (String bad : List.of("{% for m in messages %}{{ m.content }}", "{% endfor %}", "{{ no_such_function(1) }}",
                "{{ messages[ }}", "{% if %}x{% endif %}")) {
            assertThatThrownBy(() -> new ChatTemplate(bad, null, null, FAST).render(List.of(ChatMessage.user("u"))))
                    .as(bad)
                    .isInstanceOf(ChatTemplateException.class)
                    .hasMessageStartingWith("chat template failed");
        }
        assertThatThrownBy(() -> new ChatTemplate("{{ messages[::2] }}", null, null, FAST))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("step '2'");
        assertThatThrownBy(() -> new ChatTemplate(" ", null, null, FAST)).isInstanceOf(ChatTemplateException.class);
    }

    @Test
    void compatShimRewritesOnlyKeywordValuesAndReversals() {
        assertThat(JinjaCompat.adapt("{%- set ns = namespace(a=true, b=messages|length - 1) %}"))
                .isEqualTo("{%- set ns = namespace(a=(true), b=(messages|length - 1)) %}");
        assertThat(JinjaCompat.adapt("{% for m in messages[::-1] %}{{ 'x[::-1], f(k=v)' }}{% endfor %} f(k=v) [::-1]"))
                .isEqualTo("{% for m in (messages|__py_reversed) %}{{ 'x[::-1], f(k=v)' }}{% endfor %} f(k=v) [::-1]");
        assertThat(JinjaCompat.adapt("{{ f(x == 1, [a, b], d={'k': 1}) }}"))
                .isEqualTo("{{ f(x == 1, [a, b], d=({'k': 1})) }}");
        assertThat(JinjaCompat.adapt("{{ m.content.split('a')[0][::-1] }}"))
                .isEqualTo("{{ (m.content.split('a')[0]|__py_reversed) }}");
    }
}
