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
}
