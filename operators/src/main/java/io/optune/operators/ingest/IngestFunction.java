package io.optune.operators.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.InvalidInputException;
import io.optune.engine.Json;
import io.optune.engine.PromptEncoder;
import io.optune.engine.tokenizer.ChatMessage;
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

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Step 1, ingest: parses JSON prompt records
 * ({@code {"id": "...", "text": "...", "tenant": "...", "request_id": "..."}}, or with
 * {@code "messages": [{"role": "system"|"user"|"assistant", "content": "..."}]} instead of
 * {@code text}; other fields such as {@code metadata} are accepted and ignored) and validates them
 * by encoding them as the policy will (chat messages through the tokenizer's chat template). {@code id} names the prompt (the
 * key of its response memory, shared by its recurrences); the optional {@code request_id} names
 * this one arrival in the prompt ledger. A malformed,
 * incomplete, empty, over-long or unencodable record goes to {@link #DEAD_LETTERS} with the reason.
 */
public class IngestFunction extends ProcessFunction<String, Prompt> {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("ingest-dead-letters") {};

    public static final int MAX_ID_LENGTH = 256;

    /** Most turns one chat prompt may carry. */
    public static final int MAX_MESSAGES = 256;

    private final Tokenizer tokenizer;
    private final int maxPromptTokens;
    private transient PromptEncoder encoder;

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
        if (id.isBlank() || id.length() > MAX_ID_LENGTH) {
            throw new InvalidInputException("invalid-id", "id must be 1 to " + MAX_ID_LENGTH + " characters");
        }
        JsonNode tenantNode = node.get("tenant");
        if (tenantNode != null && !tenantNode.isNull() && !tenantNode.isTextual()) {
            throw new InvalidInputException("wrong-type", "field 'tenant' must be a string");
        }
        boolean hasText = node.hasNonNull("text");
        boolean hasMessages = node.hasNonNull("messages");
        if (hasText && hasMessages) {
            throw new InvalidInputException("text-and-messages", "a prompt record carries either 'text' or 'messages', not both");
        }
        String text = "";
        List<ChatMessage> messages = List.of();
        if (hasMessages) {
            messages = messages(node.get("messages"));
        } else if (hasText) {
            text = requiredText(node, "text");
        } else {
            throw new InvalidInputException("missing-field", "field 'text' (or 'messages') is missing");
        }
        // The policy's own encoding decides: empty, too long, unencodable, no chat template, template failure.
        encoder().encode(text, messages);
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
        return new Prompt(id, requestId, text, messages, tenant, now);
    }

    /** Validates the {@code messages} array of a chat prompt. */
    private static List<ChatMessage> messages(JsonNode array) {
        if (!array.isArray()) {
            throw new InvalidInputException("wrong-type", "field 'messages' must be an array, not " + array.getNodeType());
        }
        if (array.isEmpty()) {
            throw new InvalidInputException("empty-prompt", "field 'messages' is empty");
        }
        if (array.size() > MAX_MESSAGES) {
            throw new InvalidInputException("too-many-messages", "a prompt may carry at most " + MAX_MESSAGES + " messages, not " + array.size());
        }
        List<ChatMessage> out = new ArrayList<>(array.size());
        for (int i = 0; i < array.size(); i++) {
            JsonNode m = array.get(i);
            if (!m.isObject()) {
                throw new InvalidInputException("wrong-type", "message " + i + " must be an object with 'role' and 'content'");
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual() || !ChatMessage.ROLES.contains(role.asText())) {
                throw new InvalidInputException("invalid-message", "message " + i + " must have a role of " + new TreeSet<>(ChatMessage.ROLES)
                        + (role == null ? "" : ", not " + abbreviate(role.toString())));
            }
            JsonNode content = m.get("content");
            if (content == null || content.isNull()) {
                throw new InvalidInputException("missing-field", "message " + i + " has no 'content'");
            }
            if (!content.isTextual()) {
                throw new InvalidInputException("wrong-type", "content of message " + i + " must be a string, not " + content.getNodeType());
            }
            if (content.asText().isBlank()) {
                throw new InvalidInputException("empty-prompt", "content of message " + i + " is empty");
            }
            out.add(new ChatMessage(role.asText(), content.asText()));
        }
        return out;
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }

    private PromptEncoder encoder() {
        if (encoder == null) {
            encoder = new PromptEncoder(tokenizer, maxPromptTokens);
        }
        return encoder;
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
