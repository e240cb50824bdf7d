package io.optune.engine.task;

import io.optune.engine.Rng;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

/**
 * The built-in alignment task: short string transforms and additions of mixed difficulty, and a
 * graded gold reward.
 *
 * <p>Gold reward of a response {@code y} for answer {@code a}:
 * {@code r = max(0, 1 - levenshtein(y, a) / max(|a|, |y|))}, in [0, 1]: 1 for the exact answer,
 * partial credit for near misses, 0 for the empty or an unrelated response. Graded rewards give
 * pairs meaningful reward gaps, which the gap-weighted loss uses.
 */
public final class BuiltinTask {
    /** Letters used in string operands: small enough for a tiny model, large enough to vary. */
    public static final String LETTERS = "abcdefghij";

    private BuiltinTask() {}

    /** Parses a prompt text back into a task, or returns null when it is not a built-in prompt. */
    public static TaskPrompt parse(String text) {
        if (text == null || !text.endsWith("=")) {
            return null;
        }
        int space = text.indexOf(' ');
        if (space < 0) {
            return null;
        }
        TaskKind kind = TaskKind.ofVerb(text.substring(0, space));
        String operand = text.substring(space + 1, text.length() - 1);
        if (kind == null || operand.isEmpty()) {
            return null;
        }
        String answer;
        switch (kind) {
            case COPY:
                answer = operand;
                break;
            case REVERSE:
                answer = new StringBuilder(operand).reverse().toString();
                break;
            case SORT:
                char[] c = operand.toCharArray();
                Arrays.sort(c);
                answer = new String(c);
                break;
            case ADD:
                String[] ab = operand.split("\\+", -1);
                if (ab.length != 2 || !ab[0].matches("\\d{1,4}") || !ab[1].matches("\\d{1,4}")) {
                    return null;
                }
                answer = Integer.toString(Integer.parseInt(ab[0]) + Integer.parseInt(ab[1]));
                break;
            default:
                return null;
        }
        return new TaskPrompt(idOf(text), kind, text, answer);
    }

    /** A stable id derived from the prompt text. */
    public static String idOf(String text) {
        return "p-" + UUID.nameUUIDFromBytes(text.getBytes(StandardCharsets.UTF_8)).toString().substring(0, 13);
    }

    /** Longest string operand of the default task (letters). */
    public static final int DEFAULT_MAX_OPERAND = 4;

    /** A random task instance: string operands of 2..4 letters, additions of a 1- or 2-digit and a 1-digit number. */
    public static TaskPrompt random(Rng rng) {
        return random(rng, DEFAULT_MAX_OPERAND);
    }

    /**
     * A random task instance with string operands of 2..{@code maxOperand} letters (longer answers:
     * more tokens to generate per response, as in the OPTune paper's regime); additions as in
     * {@link #random(Rng)}. The default draws exactly the same instances as {@link #random(Rng)}.
     */
    public static TaskPrompt random(Rng rng, int maxOperand) {
        if (maxOperand < 2) {
            throw new IllegalArgumentException("the longest operand must be >= 2 letters: " + maxOperand);
        }
        TaskKind kind = TaskKind.values()[rng.nextInt(TaskKind.values().length)];
        String operand;
        if (kind == TaskKind.ADD) {
            int da = 1 + rng.nextInt(2);
            int db = 1;
            operand = rng.nextInt((int) Math.pow(10, da)) + "+" + rng.nextInt((int) Math.pow(10, db));
        } else {
            int len = 2 + rng.nextInt(maxOperand - 1);
            StringBuilder sb = new StringBuilder(len);
            for (int i = 0; i < len; i++) {
                sb.append(LETTERS.charAt(rng.nextInt(LETTERS.length())));
            }
            operand = sb.toString();
        }
        return parse(kind.verb() + " " + operand + "=");
    }

    /** The graded gold reward in [0, 1]. */
    public static double goldReward(String response, String answer) {
        int longest = Math.max(answer.length(), response.length());
        if (longest == 0) {
            return 1.0;
        }
        return Math.max(0.0, 1.0 - (double) levenshtein(response, answer) / longest);
    }

    /** A fixed held-out set (its own seed stream, so it never depends on the training feed). */
    public static List<TaskPrompt> heldOut(int size, long seed) {
        return heldOut(size, seed, DEFAULT_MAX_OPERAND);
    }

    /** As {@link #heldOut(int, long)} for the task with operands of up to {@code maxOperand} letters. */
    public static List<TaskPrompt> heldOut(int size, long seed, int maxOperand) {
        Rng rng = Rng.derive(seed, 0x4E1DL);
        List<TaskPrompt> out = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            out.add(random(rng, maxOperand));
        }
        return out;
    }

    static int levenshtein(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
