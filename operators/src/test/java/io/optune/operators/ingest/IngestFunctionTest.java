package io.optune.operators.ingest;

import io.optune.engine.tokenizer.CharTokenizer;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Prompt;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

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
            };
            for (String s : in) {
                h.processElement(s, 0L);
            }
            List<Prompt> ok = h.extractOutputValues();
            assertThat(ok).extracting(Prompt::id).containsExactly("a", "b");
            assertThat(ok.get(0).tenant()).isEqualTo("t1");
            List<String> reasons = h.getSideOutput(IngestFunction.DEAD_LETTERS).stream()
                    .map(StreamRecord::getValue).map(DeadLetter::reason).collect(Collectors.toList());
            assertThat(reasons).containsExactly("malformed-json", "malformed-json", "missing-field", "wrong-type", "empty-prompt",
                    "prompt-too-long", "unknown-character", "empty-record", "wrong-type");
            assertThat(h.getSideOutput(IngestFunction.DEAD_LETTERS)).allSatisfy(r -> {
                assertThat(r.getValue().stage()).isEqualTo("ingest");
                assertThat(r.getValue().detail()).isNotBlank();
            });
        }
    }
}
