package io.optune.engine.tokenizer;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Bridges two gaps between Python's Jinja, which chat templates are written for, and Jinjava, which
 * renders them here, by rewriting the template source before Jinjava parses it (the template file
 * itself is never changed):
 *
 * <ul>
 *   <li>Keyword arguments bind looser than filters in Jinja ({@code namespace(i=messages|length - 1)}
 *       passes {@code (messages|length) - 1}); Jinjava applies the filter to the keyword pair and
 *       fails. Every keyword argument value of a call is wrapped in parentheses.
 *   <li>Jinjava has no slice step; {@code x[::-1]} (the common reversal idiom) becomes
 *       {@code (x|__py_reversed)}; any other step is refused with a clear message.
 * </ul>
 *
 * <p>Only the text inside {@code {{ }}} and {@code {% %}} is touched, string literals are skipped,
 * and no other construct is interpreted: all parsing and evaluation stay with Jinjava.
 */
final class JinjaCompat {
    static final String REVERSED_FILTER = "__py_reversed";

    private JinjaCompat() {}

    static String adapt(String source) {
        StringBuilder out = new StringBuilder(source.length() + 64);
        int i = 0;
        int n = source.length();
        while (i < n) {
            int open = nextTag(source, i);
            if (open < 0) {
                out.append(source, i, n);
                break;
            }
            out.append(source, i, open);
            char kind = source.charAt(open + 1);
            if (kind == '#') {
                int close = source.indexOf("#}", open + 2);
                int end = close < 0 ? n : close + 2;
                out.append(source, open, end);
                i = end;
                continue;
            }
            String closer = kind == '{' ? "}}" : "%}";
            int close = indexOutsideStrings(source, closer, open + 2);
            if (close < 0) {
                out.append(source, open, n); // unterminated: leave it to Jinjava to report
                break;
            }
            String body = source.substring(open + 2, close);
            String head = body.strip();
            if (head.startsWith("-") || head.startsWith("+")) {
                head = head.substring(1).strip();
            }
            if (kind == '%' && head.startsWith("raw")) {
                int endRaw = findEndRaw(source, close + 2);
                out.append(source, open, endRaw);
                i = endRaw;
                continue;
            }
            boolean definition = kind == '%' && (head.startsWith("macro") || head.startsWith("call"));
            out.append(source, open, open + 2).append(definition ? body : rewrite(body)).append(closer);
            i = close + 2;
        }
        return out.toString();
    }

    private static int nextTag(String s, int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
        }
        return -1;
    }

    private static int findEndRaw(String s, int from) {
        int at = from;
        while (true) {
            int open = s.indexOf("{%", at);
            if (open < 0) {
                return s.length();
            }
            int close = s.indexOf("%}", open);
            if (close < 0) {
                return s.length();
            }
            String head = s.substring(open + 2, close).replace("-", "").strip();
            if (head.equals("endraw")) {
                return close + 2;
            }
            at = close + 2;
        }
    }

    /** Index just past the string literal starting at {@code i}. */
    private static int skipString(String s, int i) {
        char quote = s.charAt(i);
        int j = i + 1;
        while (j < s.length()) {
            char c = s.charAt(j);
            if (c == '\\') {
                j += 2;
                continue;
            }
            if (c == quote) {
                return j + 1;
            }
            j++;
        }
        return s.length();
    }

    private static final class Frame {
        final char open;
        final boolean call;
        boolean inKeywordValue;

        Frame(char open, boolean call) {
            this.open = open;
            this.call = call;
        }
    }

    /** Rewrites one tag's expression text. */
    static String rewrite(String body) {
        String reversed = rewriteReversal(body);
        StringBuilder out = new StringBuilder(reversed.length() + 16);
        Deque<Frame> stack = new ArrayDeque<>();
        int i = 0;
        int n = reversed.length();
        while (i < n) {
            char c = reversed.charAt(i);
            if (c == '\'' || c == '"') {
                int end = skipString(reversed, i);
                out.append(reversed, i, end);
                i = end;
                continue;
            }
            if (c == '(' || c == '[' || c == '{') {
                boolean call = c == '(' && precededByCallee(out);
                stack.push(new Frame(c, call));
                out.append(c);
                i++;
                if (call) {
                    i = maybeOpenKeyword(reversed, i, out, stack.peek());
                }
                continue;
            }
            if (c == ')' || c == ']' || c == '}') {
                Frame f = stack.isEmpty() ? null : stack.pop();
                if (f != null && f.inKeywordValue) {
                    out.append(')');
                }
                out.append(c);
                i++;
                continue;
            }
            if (c == ',' && !stack.isEmpty() && stack.peek().call) {
                Frame f = stack.peek();
                if (f.inKeywordValue) {
                    out.append(')');
                    f.inKeywordValue = false;
                }
                out.append(c);
                i = maybeOpenKeyword(reversed, i + 1, out, f);
                continue;
            }
            out.append(c);
            i++;
        }
        return out.toString();
    }

    private static boolean precededByCallee(StringBuilder out) {
        for (int k = out.length() - 1; k >= 0; k--) {
            char p = out.charAt(k);
            if (Character.isWhitespace(p)) {
                continue;
            }
            return Character.isLetterOrDigit(p) || p == '_' || p == ')' || p == ']';
        }
        return false;
    }

    /** At the start of a call argument: {@code name = value} gets its value opened with '('. */
    private static int maybeOpenKeyword(String s, int i, StringBuilder out, Frame frame) {
        int j = i;
        while (j < s.length() && Character.isWhitespace(s.charAt(j))) {
            j++;
        }
        int nameStart = j;
        while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
            j++;
        }
        if (j == nameStart || Character.isDigit(s.charAt(nameStart))) {
            return i;
        }
        int k = j;
        while (k < s.length() && Character.isWhitespace(s.charAt(k))) {
            k++;
        }
        if (k < s.length() && s.charAt(k) == '=' && (k + 1 >= s.length() || s.charAt(k + 1) != '=')) {
            out.append(s, i, k + 1).append('(');
            frame.inKeywordValue = true;
            return k + 1;
        }
        return i;
    }

    /** {@code primary[::-1]} becomes {@code (primary|__py_reversed)}. */
    private static String rewriteReversal(String body) {
        String s = body;
        int at = indexOutsideStrings(s, "[::", 0);
        while (at >= 0) {
            int close = s.indexOf(']', at);
            String step = close < 0 ? "" : s.substring(at + 3, close).strip();
            if (!step.equals("-1")) {
                throw new ChatTemplateException("chat template uses a slice with step '" + step
                        + "', which Jinjava cannot evaluate (only [::-1] is supported)");
            }
            int start = primaryStart(s, at);
            if (start == at) {
                throw new ChatTemplateException("chat template reverses something that is not a name, call or subscript");
            }
            String primary = s.substring(start, at);
            String replacement = "(" + primary + "|" + REVERSED_FILTER + ")";
            s = s.substring(0, start) + replacement + s.substring(close + 1);
            at = indexOutsideStrings(s, "[::", start + replacement.length());
        }
        return s;
    }

    /** Start of the name/attribute/call/subscript chain that ends just before {@code end}. */
    private static int primaryStart(String s, int end) {
        int k = end;
        while (k > 0) {
            char p = s.charAt(k - 1);
            if (p == ')' || p == ']') {
                int depth = 0;
                int m = k - 1;
                for (; m >= 0; m--) {
                    char q = s.charAt(m);
                    if (q == ')' || q == ']') {
                        depth++;
                    } else if (q == '(' || q == '[') {
                        depth--;
                        if (depth == 0) {
                            break;
                        }
                    }
                }
                k = Math.max(m, 0);
            } else if (Character.isLetterOrDigit(p) || p == '_' || p == '.') {
                k--;
            } else if (p == '\'' || p == '"') {
                int m = s.lastIndexOf(p, k - 2);
                k = Math.max(m, 0);
            } else {
                break;
            }
        }
        return k;
    }

    /** The first {@code needle} at or after {@code from} outside string literals (a tag's closer, a keyword). */
    private static int indexOutsideStrings(String s, String needle, int from) {
        int i = from;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(s, i);
                continue;
            }
            if (s.startsWith(needle, i)) {
                return i;
            }
            i++;
        }
        return -1;
    }
}
