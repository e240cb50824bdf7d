package io.optune.engine.task;

/**
 * The built-in instruction kinds. Each has a prompt template, an exact answer and a difficulty that
 * grows with the operand length.
 */
public enum TaskKind {
    /** "copy abc=" -> "abc". */
    COPY("copy"),
    /** "rev abc=" -> "cba". */
    REVERSE("rev"),
    /** "sort cab=" -> "abc". */
    SORT("sort"),
    /** "add 12+7=" -> "19". */
    ADD("add");

    private final String verb;

    TaskKind(String verb) {
        this.verb = verb;
    }

    public String verb() {
        return verb;
    }

    public static TaskKind ofVerb(String verb) {
        for (TaskKind k : values()) {
            if (k.verb.equals(verb)) {
                return k;
            }
        }
        return null;
    }
}
