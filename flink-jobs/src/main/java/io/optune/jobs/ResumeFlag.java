package io.optune.jobs;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code --resume [RUN_DIR]} short form of {@code --optune.embedded.resume}, and the exact resume
 * command printed for a run that ended abnormally.
 */
final class ResumeFlag {
    static final String FLAG = "--resume";
    private static final String OPTION = "--" + OptuneOptions.RESUME.key();
    // One argument holding several (how a build tool property hands them over): --resume with an optional value.
    private static final Pattern IN_STRING = Pattern.compile("(^|\\s)--resume(?:\\s+(?!--)(\\S+))?(?=\\s|$)");

    private ResumeFlag() {}

    /** Rewrites {@code --resume [DIR]} to {@code --optune.embedded.resume DIR|latest}; everything else is kept as given. */
    static String[] expand(String[] args) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals(FLAG)) {
                out.add(OPTION);
                boolean hasValue = i + 1 < args.length && !args[i + 1].startsWith("--");
                out.add(hasValue ? args[++i] : RunDirectory.LATEST);
            } else if (a.contains(FLAG) && a.chars().anyMatch(Character::isWhitespace)) {
                Matcher m = IN_STRING.matcher(a);
                StringBuilder sb = new StringBuilder();
                while (m.find()) {
                    String value = m.group(2) == null ? RunDirectory.LATEST : m.group(2);
                    m.appendReplacement(sb, Matcher.quoteReplacement(m.group(1) + OPTION + " " + value));
                }
                m.appendTail(sb);
                out.add(sb.toString());
            } else {
                out.add(a);
            }
        }
        return out.toArray(new String[0]);
    }

    /** The arguments as separate words (one argument holding several is split on white space, as JobConfig reads it). */
    static List<String> displayArgs(String[] args) {
        if (args.length == 1 && args[0].trim().contains(" ")) {
            return Arrays.asList(args[0].trim().split("\\s+"));
        }
        return Arrays.asList(args);
    }

    /** The command that continues the run in {@code runDir}: the same options, without any earlier resume or run directory. */
    static String command(List<String> args, Path runDir) {
        StringBuilder sb = new StringBuilder("bin/optune-embedded");
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals(FLAG)) {
                if (i + 1 < args.size() && !args.get(i + 1).startsWith("--")) {
                    i++;
                }
                continue;
            }
            if (a.equals(OPTION) || a.equals("--" + OptuneOptions.RUN_DIR.key())) {
                i++;
                continue;
            }
            sb.append(' ').append(quote(a));
        }
        return sb.append(' ').append(FLAG).append(' ').append(quote(shown(runDir))).toString();
    }

    /** Relative to the working directory when inside it (as a user would type it). */
    private static String shown(Path runDir) {
        Path cwd = Path.of("").toAbsolutePath();
        Path abs = runDir.toAbsolutePath().normalize();
        return abs.startsWith(cwd) && !abs.equals(cwd) ? cwd.relativize(abs).toString() : abs.toString();
    }

    private static String quote(String s) {
        return s.matches("[A-Za-z0-9_./:=@%+,-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }
}
