package io.optune.operators.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.InvalidInputException;
import io.optune.engine.Json;
import io.optune.engine.tokenizer.Tokenizer;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Prompt;
import io.optune.operators.faults.FaultInjection;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Step 1, ingest: parses JSON prompt records
 * ({@code {"id": "...", "text": "...", "tenant": "...", "request_id": "..."}}; other fields such as
 * {@code metadata} are accepted and ignored) and validates them. {@code id} names the prompt (the
 * key of its response memory, shared by its recurrences); the optional {@code request_id} names
 * this one arrival in the prompt ledger. A malformed,
 * incomplete, empty, over-long or unencodable record goes to {@link #DEAD_LETTERS} with the reason.
 */
public class IngestFunction extends ProcessFunction<String, Prompt> {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("ingest-dead-letters") {};

    public static final int MAX_ID_LENGTH = 256;

    private final Tokenizer tokenizer;
    private final int maxPromptTokens;

    private transient Counter promptsIn;
    private transient Counter deadLetters;
    private transient LongCounter deadLetterTotal;
    private transient LongCounter promptsInTotal;

    /** Accumulator names (job-wide). */
    public static final String ACC_DEAD_LETTERS = "ingestDeadLetters";
    public static final String ACC_PROMPTS_IN = "promptsIn";

    /**
     * @param tokenizer the policy's tokenizer: prompts it cannot encode are refused here, not deep in
     *     the generator
     * @param maxPromptTokens longest accepted prompt in tokens (BOS included)
     */
    public IngestFunction(Tokenizer tokenizer, int maxPromptTokens) {
        this.tokenizer = tokenizer;
        this.maxPromptTokens = maxPromptTokens;
    }

    @Override
    public void open(OpenContext openContext) {
        promptsIn = getRuntimeContext().getMetricGroup().counter("promptsIn");
        deadLetters = getRuntimeContext().getMetricGroup().counter("deadLetters");
        getRuntimeContext().addAccumulator(ACC_DEAD_LETTERS, deadLetterTotal = new LongCounter());
        getRuntimeContext().addAccumulator(ACC_PROMPTS_IN, promptsInTotal = new LongCounter());
    }

    @Override
    public void processElement(String raw, Context ctx, Collector<Prompt> out) {
        FaultInjection.check(FaultInjection.Point.INGEST);
        try {
            out.collect(parse(raw, System.currentTimeMillis()));
            if (promptsIn != null) {
                promptsIn.inc();
                promptsInTotal.add(1L);
            }
        } catch (InvalidInputException e) {
            if (deadLetters != null) {
                deadLetters.inc();
                deadLetterTotal.add(1L);
            }
            ctx.output(DEAD_LETTERS, DeadLetter.of(lenientText(raw, "request_id"), lenientText(raw, "id"), "ingest", e.reason(), e.getMessage(), raw));
        }
    }

    /** Parses and validates one record; throws with a reason code when it is refused. */
    public Prompt parse(String raw, long now) {
        if (raw == null || raw.isBlank()) {
            throw new InvalidInputException("empty-record", "record is empty");
        }
        JsonNode node;
        try {
            node = Json.MAPPER.readTree(raw);
        } catch (Exception e) {
            throw new InvalidInputException("malformed-json", "not valid JSON: " + firstLine(e.getMessage()));
        }
        if (node == null || !node.isObject()) {
            throw new InvalidInputException("malformed-json", "a prompt record must be a JSON object");
        }
        String id = requiredText(node, "id");
        String text = requiredText(node, "text");
        if (id.isBlank() || id.length() > MAX_ID_LENGTH) {
            throw new InvalidInputException("invalid-id", "id must be 1 to " + MAX_ID_LENGTH + " characters");
        }
        JsonNode tenantNode = node.get("tenant");
        if (tenantNode != null && !tenantNode.isNull() && !tenantNode.isTextual()) {
            throw new InvalidInputException("wrong-type", "field 'tenant' must be a string");
        }
        if (text.isBlank()) {
            throw new InvalidInputException("empty-prompt", "prompt text is empty");
        }
        if (text.length() + 1 > maxPromptTokens * 4L) {
            throw new InvalidInputException("prompt-too-long", "prompt of " + text.length() + " characters exceeds " + maxPromptTokens + " tokens");
        }
        int tokens = tokenizer.encode(text).length + 1;
        if (tokens > maxPromptTokens) {
            throw new InvalidInputException("prompt-too-long", "prompt is " + tokens + " tokens, the limit is " + maxPromptTokens);
        }
        String tenant = tenantNode == null || tenantNode.isNull() ? "" : tenantNode.asText();
        String requestId = "";
        JsonNode requestNode = node.get("request_id");
        if (requestNode != null && !requestNode.isNull()) {
            if (!requestNode.isTextual()) {
                throw new InvalidInputException("wrong-type", "field 'request_id' must be a string");
            }
            requestId = requestNode.asText();
            if (requestId.length() > MAX_ID_LENGTH) {
                throw new InvalidInputException("invalid-id", "request_id must be at most " + MAX_ID_LENGTH + " characters");
            }
        }
        return new Prompt(id, requestId, text, tenant, now);
    }

    private static String requiredText(JsonNode node, String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new InvalidInputException("missing-field", "field '" + field + "' is missing");
        }
        if (!v.isTextual()) {
            throw new InvalidInputException("wrong-type", "field '" + field + "' must be a string, not " + v.getNodeType());
        }
        return v.asText();
    }

    /** A field of a refused record, when it can still be read, so its dead letter keeps its ids. */
    private static String lenientText(String raw, String field) {
        try {
            JsonNode v = raw == null ? null : Json.MAPPER.readTree(raw).get(field);
            return v != null && v.isTextual() && v.asText().length() <= MAX_ID_LENGTH ? v.asText() : "";
        } catch (Exception e) {
            return "";
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
