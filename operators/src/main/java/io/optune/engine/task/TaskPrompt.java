package io.optune.engine.task;

/**
 * A built-in task instance.
 *
 * @param id stable prompt id (equal for equal text)
 * @param kind the task kind
 * @param text the prompt text shown to the policy, e.g. {@code rev abc=}
 * @param answer the exact answer, e.g. {@code cba}
 */
public record TaskPrompt(String id, TaskKind kind, String text, String answer) {}
