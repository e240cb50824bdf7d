package io.optune.engine.tokenizer;

import jinjava.javax.el.ELContext;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Python's {@code str} methods for Jinjava expressions ({@code message.content.startswith('<x>')},
 * {@code .split('</think>')}, {@code .strip('\n')}): chat templates are written for Python's Jinja,
 * where strings are Python strings, while Jinjava hands templates plain Java strings. Only method
 * calls on strings are resolved here; everything else falls through to Jinjava's own resolvers.
 */
final class PythonStringMethods extends MethodCallResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String) || !(method instanceof String)) {
            return null;
        }
        String s = (String) base;
        Object[] args = params == null ? new Object[0] : params;
        Object result;
        switch ((String) method) {
            case "startswith": result = matchesAny(s, args, true); break;
            case "endswith": result = matchesAny(s, args, false); break;
            case "strip": result = strip(s, chars(args), true, true); break;
            case "lstrip": result = strip(s, chars(args), true, false); break;
            case "rstrip": result = strip(s, chars(args), false, true); break;
            case "split": result = split(s, args); break;
            case "upper": result = s.toUpperCase(Locale.ROOT); break;
            case "lower": result = s.toLowerCase(Locale.ROOT); break;
            case "replace": result = replace(s, str(args, 0), str(args, 1)); break;
            case "find": result = (long) s.indexOf(str(args, 0)); break;
            case "count": result = (long) count(s, str(args, 0)); break;
            case "title": result = title(s); break;
            case "capitalize":
                result = s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
                break;
            default:
                return null; // not a Python str method we know: let Jinjava try (and report) it
        }
        context.setPropertyResolved(true);
        return result;
    }

    /** Longest string a replace may build: a template cannot grow strings past this (a memory bomb). */
    static final long MAX_RESULT_CHARS = 1 << 20;

    private static String replace(String s, String from, String to) {
        long hits = from.isEmpty() ? s.length() + 1L : count(s, from);
        if (s.length() + hits * (to.length() - (long) from.length()) > MAX_RESULT_CHARS) {
            throw new IllegalArgumentException("replace would build a string over " + MAX_RESULT_CHARS + " characters");
        }
        return s.replace(from, to);
    }

    private static String str(Object[] args, int i) {
        if (args.length <= i || args[i] == null) {
            throw new IllegalArgumentException("string method needs argument " + (i + 1));
        }
        return args[i].toString();
    }

    private static String chars(Object[] args) {
        return args.length == 0 || args[0] == null ? null : args[0].toString();
    }

    private static boolean matchesAny(String s, Object[] args, boolean prefix) {
        if (args.length == 0 || args[0] == null) {
            throw new IllegalArgumentException((prefix ? "startswith" : "endswith") + " needs an argument");
        }
        // Python accepts a tuple of candidates; Jinjava passes a tuple as a list.
        Iterable<?> candidates = args[0] instanceof Iterable ? (Iterable<?>) args[0] : List.of(args[0]);
        for (Object c : candidates) {
            String t = String.valueOf(c);
            if (prefix ? s.startsWith(t) : s.endsWith(t)) {
                return true;
            }
        }
        return false;
    }

    /** {@code chars == null} strips whitespace, as Python does. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.charAt(start), chars)) {
            start++;
        }
        while (right && end > start && stripped(s.charAt(end - 1), chars)) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : chars.indexOf(c) >= 0;
    }

    /** Python's split: literal separator (not a regex), or runs of whitespace without one. */
    static List<String> split(String s, Object[] args) {
        String sep = args.length == 0 || args[0] == null ? null : args[0].toString();
        long maxSplit = args.length > 1 && args[1] instanceof Number ? ((Number) args[1]).longValue() : -1;
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && Character.isWhitespace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !Character.isWhitespace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1;
        }
        int n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean startOfWord = true;
        for (char c : s.toCharArray()) {
            sb.append(startOfWord ? Character.toUpperCase(c) : Character.toLowerCase(c));
            startOfWord = !Character.isLetter(c);
        }
        return sb.toString();
    }

    // Property access is left entirely to Jinjava's resolvers.
}
