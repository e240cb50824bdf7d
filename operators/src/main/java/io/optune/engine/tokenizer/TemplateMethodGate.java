package io.optune.engine.tokenizer;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.MethodNotFoundException;

import java.util.Set;

/**
 * Chat templates are untrusted code: they may read values and call the Python {@code str} methods of
 * {@link PythonStringMethods} and the few {@code dict} methods Jinja templates use, and nothing else.
 * Without this, Jinjava would invoke any public Java method of any value a template holds
 * ({@code messages.clear()}, {@code content.repeat(2000000000)}).
 */
final class TemplateMethodGate extends MethodCallResolver {
    /** Python dict methods, answered by Jinjava's own map wrapper. */
    private static final Set<String> ALLOWED = Set.of("items", "keys", "values", "get");

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (method instanceof String && ALLOWED.contains(method) && base instanceof java.util.Map) {
            return null; // not resolved here: Jinjava's resolver answers it
        }
        // Jinjava runs filters, tests and loop helpers as method calls on its own objects.
        if (base instanceof com.hubspot.jinjava.lib.filter.Filter || base instanceof com.hubspot.jinjava.lib.exptest.ExpTest
                || base instanceof com.hubspot.jinjava.util.ForLoop) {
            return null;
        }
        throw new MethodNotFoundException("chat templates cannot call '" + method + "' on a "
                + (base == null ? "null" : base instanceof String ? "string" : base instanceof java.util.Map ? "dict"
                        : base instanceof Iterable ? "list" : "value"));
    }
}
