package io.optune.operators.ingest;

import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.engine.tokenizer.ChatMessage;
import io.optune.engine.tokenizer.HfTokenizer;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Prompt;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import java.util.List;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

class IngestFunctionTest {

    @Test
    void validRecordsPassAndBadOnesAreDeadLetteredWithTheirReason() throws Exception {
        try (OneInputStreamOperatorTestHarness<String, Prompt> h =
                ProcessFunctionTestHarnesses.forProcessFunction(new IngestFunction(new CharTokenizer(), 24))) {
            String[] in = {
                "{\"id\":\"a\",\"text\":\"rev abc=\",\"tenant\":\"t1\",\"metadata\":{\"x\":1}}",
                "{\"id\":\"b\",\"text\":\"copy ab=\"}",
                "not json",
                "[1,2]",
                "{\"text\":\"rev ab=\"}",
                "{\"id\":7,\"text\":\"rev ab=\"}",
                "{\"id\":\"c\",\"text\":\"   \"}",
                "{\"id\":\"d\",\"text\":\"" + "x".repeat(40) + "\"}",
                "{\"id\":\"e\",\"text\":\"caf\u00e9\"}",
                "",
                "{\"id\":\"f\",\"text\":\"rev ab=\",\"tenant\":5}",
                "{\"id\":\"g\",\"request_id\":\"r-g\",\"text\":\"copy a=\"}",
                "{\"id\":\"h\",\"request_id\":\"r-h\",\"text\":\"\"}",
                "{\"id\":\"i\",\"request_id\":9,\"text\":\"copy a=\"}",
            };
            for (String s : in) {
                h.processElement(s, 0L);
            }
            List<Prompt> ok = h.extractOutputValues();
            assertThat(ok).extracting(Prompt::id).containsExactly("a", "b", "g");
            assertThat(ok).extracting(Prompt::requestId).containsExactly("", "", "r-g");
            assertThat(ok.get(0).tenant()).isEqualTo("t1");
            List<String> reasons = h.getSideOutput(IngestFunction.DEAD_LETTERS).stream()
                    .map(StreamRecord::getValue).map(DeadLetter::reason).collect(Collectors.toList());
            assertThat(reasons).containsExactly("malformed-json", "malformed-json", "missing-field", "wrong-type", "empty-prompt",
                    "prompt-too-long", "unknown-character", "empty-record", "wrong-type", "empty-prompt", "wrong-type");
            // A refused record keeps the ids that could be read, so the ledger can account for it.
            DeadLetter refused = h.getSideOutput(IngestFunction.DEAD_LETTERS).stream().map(StreamRecord::getValue)
                    .filter(d -> d.promptId().equals("h")).findFirst().orElseThrow();
            assertThat(refused.requestId()).isEqualTo("r-h");
            assertThat(h.getSideOutput(IngestFunction.DEAD_LETTERS)).allSatisfy(r -> {
                assertThat(r.getValue().stage()).isEqualTo("ingest");
                assertThat(r.getValue().detail()).isNotBlank();
            });
        }
    }

    @Test
    void chatRecordsNeedATemplateAndAreEncodedWithTheRealOne(@TempDir Path dir) throws Exception {
        String chat = "{\"id\":\"c1\",\"request_id\":\"r1\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                + "{\"role\":\"user\",\"content\":\"Sort 3 1 2\"}]}";
        // The built-in tokenizer has no chat template: refused with that reason, the messages kept in the letter.
        try (OneInputStreamOperatorTestHarness<String, Prompt> h =
                ProcessFunctionTestHarnesses.forProcessFunction(new IngestFunction(new CharTokenizer(), 24))) {
            h.processElement(chat, 0L);
            assertThat(h.extractOutputValues()).isEmpty();
            DeadLetter letter = h.getSideOutput(IngestFunction.DEAD_LETTERS).poll().getValue();
            assertThat(letter.reason()).isEqualTo("no-chat-template");
            assertThat(letter.requestId()).isEqualTo("r1");
            assertThat(letter.payload()).contains("Sort 3 1 2");
        }
        // Qwen3's tokenizer and template: the prompt carries its messages; a text record still works.
        HfTokenizer qwen = HfTokenizer.load(Path.of(getClass().getResource("/hf/tokenizers/qwen3").toURI()));
        try (OneInputStreamOperatorTestHarness<String, Prompt> h =
                ProcessFunctionTestHarnesses.forProcessFunction(new IngestFunction(qwen, 64))) {
            h.processElement(chat, 0L);
            h.processElement("{\"id\":\"t1\",\"text\":\"Hello <|im_start|> world\"}", 0L);
            h.processElement("{\"id\":\"c2\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "word ".repeat(80) + "\"}]}", 0L);
            List<Prompt> ok = h.extractOutputValues();
            assertThat(ok).extracting(Prompt::id).containsExactly("c1", "t1");
            assertThat(ok.get(0).messages()).containsExactly(ChatMessage.system("Be brief."), ChatMessage.user("Sort 3 1 2"));
            assertThat(ok.get(0).text()).isEmpty();
            assertThat(ok.get(1).isChat()).isFalse();
            assertThat(h.getSideOutput(IngestFunction.DEAD_LETTERS)).extracting(r -> r.getValue().reason()).containsExactly("prompt-too-long");
        }
        // A template that refuses a conversation (raise_exception) dead-letters it with the template's message.
        Files.copy(Path.of(getClass().getResource("/hf/tokenizers/gpt2/tokenizer.json.gz").toURI()), dir.resolve("tokenizer.json.gz"));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": \"{% if messages|length > 1 %}"
                + "{{ raise_exception('one turn only') }}{% endif %}{{ messages[0].content }}\"}");
        try (OneInputStreamOperatorTestHarness<String, Prompt> h =
                ProcessFunctionTestHarnesses.forProcessFunction(new IngestFunction(HfTokenizer.load(dir), 64))) {
            h.processElement(chat, 0L);
            DeadLetter letter = h.getSideOutput(IngestFunction.DEAD_LETTERS).poll().getValue();
            assertThat(letter.reason()).isEqualTo("chat-template-error");
            assertThat(letter.detail()).contains("one turn only");
        }
    }
}
