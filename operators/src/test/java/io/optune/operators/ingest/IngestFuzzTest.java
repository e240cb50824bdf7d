package io.optune.operators.ingest;

import io.optune.engine.Json;
import io.optune.engine.Rng;
import io.optune.engine.tokenizer.TemplatedCharTokenizer;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Prompt;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * 12,000 generated records, good and bad mixed, plain-text and chat ({@code messages}), through ingest: nothing crashes, every good record
 * comes out as a prompt (duplicate ids included: recurring prompts are normal traffic), every bad one
 * is dead-lettered with a reason, and the two together account for every input.
 */
class IngestFuzzTest {
    private static final int RECORDS = 12_000;

    private record Case(String raw, String expectedReason) {}

    private static String randomText(Rng rng, int len) {
        String alphabet = "abcdefghij0123456789 +=";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < len; i++) {
            sb.append(alphabet.charAt(rng.nextInt(alphabet.length())));
        }
        return sb.toString();
    }

    private static Map<String, Object> turn(String role, Object content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }

    /** A chat record ({@code messages} instead of {@code text}), good or with one fault. */
    private static Case chat(Rng rng, String id) {
        List<Object> messages = new ArrayList<>();
        if (rng.nextInt(3) == 0) {
            messages.add(turn("system", randomText(rng, 1 + rng.nextInt(3)).strip() + "s"));
        }
        messages.add(turn("user", "u" + randomText(rng, rng.nextInt(3)).strip()));
        if (rng.nextInt(3) == 0) {
            messages.add(turn("assistant", "b"));
            messages.add(turn("user", "c"));
        }
        Map<String, Object> good = new LinkedHashMap<>();
        good.put("id", id);
        good.put("messages", messages);
        int last = messages.size() - 1;
        switch (rng.nextInt(13)) {
            case 0: case 1: case 2: case 3:
                return new Case(Json.write(good), null);
            case 4:
                good.put("text", "rev ab=");
                return new Case(Json.write(good), "text-and-messages");
            case 5:
                good.put("messages", rng.nextInt(2) == 0 ? "user: hi" : Map.of("role", "user", "content", "hi"));
                return new Case(Json.write(good), "wrong-type");
            case 6:
                good.put("messages", List.of());
                return new Case(Json.write(good), "empty-prompt");
            case 7: {
                Object[] roles = {"tool", "admin", "", 42, null, "USER"};
                Object role = roles[rng.nextInt(roles.length)];
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("role", role);
                m.put("content", "x");
                messages.set(rng.nextInt(messages.size()), m);
                return new Case(Json.write(good), "invalid-message");
            }
            case 8: {
                Object[] contents = {42, List.of(Map.of("type", "text", "text", "hi")), Map.of("text", "hi"), true};
                messages.set(last, turn("user", contents[rng.nextInt(contents.length)]));
                return new Case(Json.write(good), "wrong-type");
            }
            case 9:
                if (rng.nextInt(2) == 0) {
                    messages.set(last, turn("user", " \n "));
                    return new Case(Json.write(good), "empty-prompt");
                }
                messages.set(last, Map.of("role", "user"));
                return new Case(Json.write(good), "missing-field");
            case 10: {
                List<Object> many = new ArrayList<>();
                for (int k = 0; k <= IngestFunction.MAX_MESSAGES + rng.nextInt(50); k++) {
                    many.add(turn("user", "u"));
                }
                good.put("messages", many);
                return new Case(Json.write(good), "too-many-messages");
            }
            case 11:
                messages.set(last, turn("user", "a".repeat(30 + rng.nextInt(100_000))));
                return new Case(Json.write(good), "prompt-too-long");
            default: {
                String[] odd = {"\u0000", "\u00e9", "\u4e2d", "\ud83d\ude00", "\t"};
                messages.set(last, turn("user", "a" + odd[rng.nextInt(odd.length)]));
                return new Case(Json.write(good), "unknown-character");
            }
        }
    }

    private static Case generate(Rng rng, int i) {
        String id = "id-" + rng.nextInt(500); // many duplicates
        if (rng.nextInt(3) == 0) {
            return chat(rng, id);
        }
        String text = "rev " + randomText(rng, 1 + rng.nextInt(8)).trim() + "x=";
        Map<String, Object> good = new LinkedHashMap<>();
        good.put("id", id);
        good.put("text", text);
        switch (rng.nextInt(14)) {
            case 0: case 1: case 2: case 3: case 4:
                if (rng.nextInt(2) == 0) {
                    good.put("tenant", "t" + rng.nextInt(3));
                    good.put("metadata", Map.of("k", List.of(1, 2)));
                }
                return new Case(Json.write(good), null);
            case 5: {
                String json = Json.write(good);
                return new Case(json.substring(0, 1 + rng.nextInt(json.length() - 2)), "malformed-json");
            }
            case 6:
                good.remove(rng.nextInt(2) == 0 ? "id" : "text");
                return new Case(Json.write(good), "missing-field");
            case 7:
                good.put(rng.nextInt(2) == 0 ? "id" : "text", rng.nextInt(2) == 0 ? 42 : List.of("a"));
                return new Case(Json.write(good), "wrong-type");
            case 8:
                good.put("text", rng.nextInt(2) == 0 ? "" : " \t ");
                return new Case(Json.write(good), "empty-prompt");
            case 9:
                good.put("text", "rev " + "a".repeat(30 + rng.nextInt(200_000)));
                return new Case(Json.write(good), "prompt-too-long");
            case 10: {
                // control characters and characters outside the vocabulary
                String[] odd = {"\u0000", "\u0007", "\n", "\u00e9", "\u4e2d", "\ud83d\ude00"};
                good.put("text", "rev a" + odd[rng.nextInt(odd.length)] + "b=");
                return new Case(Json.write(good), "unknown-character");
            }
            case 11: {
                // invalid UTF-8 bytes decoded the way a byte-oriented source would (replacement chars)
                byte[] bytes = ("{\"id\":\"" + id + "\",\"text\":\"rev a").getBytes(StandardCharsets.UTF_8);
                byte[] bad = new byte[bytes.length + 4];
                System.arraycopy(bytes, 0, bad, 0, bytes.length);
                bad[bytes.length] = (byte) 0xC3;
                bad[bytes.length + 1] = (byte) 0x28;
                bad[bytes.length + 2] = '"';
                bad[bytes.length + 3] = '}';
                return new Case(new String(bad, StandardCharsets.UTF_8), "unknown-character");
            }
            case 12:
                return new Case(rng.nextInt(2) == 0 ? "" : "   ", "empty-record");
            default:
                return new Case(rng.nextInt(2) == 0 ? "[\"id\",\"text\"]" : "\"just a string\"", "malformed-json");
        }
    }

    @Test
    void everyRecordIsEitherAPromptOrADeadLetterWithItsReason() throws Exception {
        Rng rng = new Rng(2026);
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            cases.add(generate(rng, i));
        }
        try (OneInputStreamOperatorTestHarness<String, Prompt> h =
                ProcessFunctionTestHarnesses.forProcessFunction(new IngestFunction(new TemplatedCharTokenizer(), 24))) {
            for (Case c : cases) {
                h.processElement(c.raw(), 0L);
            }
            List<Prompt> prompts = h.extractOutputValues();
            List<DeadLetter> dead = h.getSideOutput(IngestFunction.DEAD_LETTERS).stream().map(StreamRecord::getValue).toList();
            long good = cases.stream().filter(c -> c.expectedReason() == null).count();
            assertThat(prompts).hasSize((int) good);
            assertThat(dead).hasSize(RECORDS - (int) good);
            assertThat(good).isGreaterThan(3000);
            // in order, each bad record's dead letter carries the expected reason and a readable detail
            int d = 0;
            Map<String, Integer> byReason = new HashMap<>();
            for (Case c : cases) {
                if (c.expectedReason() != null) {
                    DeadLetter letter = dead.get(d++);
                    assertThat(letter.reason()).as(c.raw().length() > 200 ? c.raw().substring(0, 200) : c.raw())
                            .isEqualTo(c.expectedReason());
                    assertThat(letter.detail()).isNotBlank();
                    assertThat(letter.payload().length()).isLessThanOrEqualTo(DeadLetter.MAX_PAYLOAD + 40);
                    byReason.merge(letter.reason(), 1, Integer::sum);
                }
            }
            assertThat(byReason.keySet()).containsExactlyInAnyOrder("malformed-json", "missing-field", "wrong-type",
                    "empty-prompt", "prompt-too-long", "unknown-character", "empty-record", "text-and-messages",
                    "invalid-message", "too-many-messages");
            assertThat(prompts.stream().filter(Prompt::isChat).count()).isGreaterThan(1000);
            System.out.println("ingest fuzz: " + good + " prompts, " + dead.size() + " dead letters " + byReason);
        }
    }
}
