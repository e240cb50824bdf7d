package io.optune.engine.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.loader.ResourceNotFoundException;
import com.hubspot.jinjava.tree.Node;
import jinjava.javax.el.CompositeELResolver;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;

/**
 * A model's chat template ({@code chat_template} in {@code tokenizer_config.json}), rendered with
 * Jinjava the way Hugging Face renders it with Python's Jinja: {@code trim_blocks} and
 * {@code lstrip_blocks} on, {@code messages}, {@code add_generation_prompt=true}, the tokenizer's
 * {@code bos_token}/{@code eos_token} and a {@code raise_exception(message)} function.
 *
 * <p>Templates come with a model and are untrusted input. They cannot include or import anything,
 * and rendering is bounded: output size, string and list sizes, {@code range} and macro recursion
 * are capped by Jinjava, and a render that
 * takes longer than {@link Limits#timeout()} is stopped at its next template node. Known gaps of
 * Jinjava that no shipped template we tried relies on: an unknown filter renders as if absent
 * instead of failing, and indexing a string ({@code s[0]}) renders empty. <b>Hardening point:</b> every limit
 * lives in {@link Limits} and {@link #config}; a stricter sandbox (a separate process, a CPU
 * budget instead of wall time) belongs here.
 */
public final class ChatTemplate {

    /**
     * Render bounds.
     *
     * @param maxOutputChars the longest rendering accepted (a prompt past the token limit is refused
     *     later anyway; this stops runaway output early)
     * @param timeout wall-clock time one render may take
     */
    public record Limits(int maxOutputChars, Duration timeout) {
        // A render takes milliseconds; the time limit is generous because a loaded machine can be slow.
        public static final Limits DEFAULT = new Limits(1 << 20, Duration.ofSeconds(5));

        public Limits {
            if (maxOutputChars < 1 || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("chat template limits must be positive");
            }
        }
    }

    // Daemon threads: a render that ignores its interrupt must not keep the JVM alive.
    private static final ExecutorService RENDERERS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "optune-chat-template");
        t.setDaemon(true);
        return t;
    });

    // Deadline of the render running on this thread (System.nanoTime), checked at every node.
    private static final ThreadLocal<long[]> DEADLINE = ThreadLocal.withInitial(() -> new long[] {Long.MAX_VALUE});

    private final String source;
    private final String adapted;
    private final String bosToken;
    private final String eosToken;
    private final Limits limits;
    private final Jinjava jinjava;
    private final Node root;

    /**
     * @param source the template as the model ships it
     * @param bosToken the text of the tokenizer's BOS token, or null when it has none
     * @param eosToken the text of the primary EOS token, or null
     * @throws ChatTemplateException when the source uses syntax Jinjava cannot evaluate
     */
    public ChatTemplate(String source, String bosToken, String eosToken, Limits limits) {
        if (source == null || source.isBlank()) {
            throw new ChatTemplateException("chat template is empty");
        }
        this.source = source;
        this.adapted = JinjaCompat.adapt(source);
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.limits = limits;
        this.jinjava = new Jinjava(config(limits));
        jinjava.registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        jinjava.registerFilter(new ReversedFilter());
        // Jinjava would load {% include %}/{% import %} targets from the classpath: a template from a
        // model must not read anything, so every lookup fails.
        jinjava.setResourceLocator((name, encoding, interpreter) -> {
            throw new ResourceNotFoundException("chat templates cannot include or import '" + name + "'");
        });
        // Parsed once: parsing is most of a render's cost, and the tree is only read while rendering.
        JinjavaInterpreter parser = jinjava.newInterpreter();
        JinjavaInterpreter.pushCurrent(parser);
        try {
            this.root = parser.parse(adapted);
            List<TemplateError> errors = parser.getErrorsCopy().stream().filter(ChatTemplate::fails).collect(Collectors.toList());
            if (!errors.isEmpty()) {
                throw new ChatTemplateException("chat template failed to parse: " + describe(errors.get(0)));
            }
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    private static JinjavaConfig config(Limits limits) {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(new TemplateMethodGate());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        return JinjavaConfig.newBuilder()
                // Hugging Face's environment: trim_blocks and lstrip_blocks.
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                // Jinja's {{- x }} strips around expressions too, which Jinjava only does with this flag.
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .build())
                .withElResolver(resolver)
                .withMaxOutputSize(limits.maxOutputChars())
                .withMaxStringLength(limits.maxOutputChars())
                .withMaxListSize(100_000)
                .withMaxMapSize(100_000)
                .withRangeLimit(100_000)
                .withMaxRenderDepth(10)
                .withMaxMacroRecursionDepth(20)
                .withEnableRecursiveMacroCalls(false)
                .withNestedInterpretationEnabled(false)
                .withFailOnUnknownTokens(false)
                // Cooperative time limit: a template that loops past its deadline stops at the next node
                // instead of burning a thread after the caller gave up on it.
                .withNodePreProcessor((node, interpreter) -> {
                    if (System.nanoTime() > DEADLINE.get()[0] || Thread.currentThread().isInterrupted()) {
                        throw new RenderTimeoutException();
                    }
                })
                .build();
    }

    /** Called by templates as {@code raise_exception('...')}; the message becomes the error. */
    public static String raiseException(String message) {
        throw new TemplateRaisedException(message);
    }

    static final class RenderTimeoutException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RenderTimeoutException() {
            super("chat template render ran past its time limit");
        }
    }

    /** Thrown by {@link #raiseException}: the template refused the conversation. */
    static final class TemplateRaisedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        TemplateRaisedException(String message) {
            super(message);
        }
    }

    public String source() {
        return source;
    }

    public Limits limits() {
        return limits;
    }

    /**
     * Renders the conversation followed by the generation prompt.
     *
     * @throws ChatTemplateException when the template fails, raises, times out or exceeds a bound
     */
    public String render(List<ChatMessage> messages) {
        return render(messages, true);
    }

    /**
     * Renders the conversation, with the generation prompt only when {@code addGenerationPrompt}
     * (false renders a finished conversation, e.g. one that ends with the assistant's answer, as a
     * reward model reads it).
     *
     * @throws ChatTemplateException when the template fails, raises, times out or exceeds a bound
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> msgs = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            msgs.add(map);
        }
        Map<String, Object> context = new LinkedHashMap<>();
        context.put("messages", msgs);
        context.put("add_generation_prompt", addGenerationPrompt);
        context.put("bos_token", bosToken == null ? "" : bosToken);
        context.put("eos_token", eosToken == null ? "" : eosToken);
        long deadline = System.nanoTime() + limits.timeout().toNanos();
        Future<RenderResult> f = RENDERERS.submit(() -> {
            DEADLINE.get()[0] = deadline;
            JinjavaConfig config = jinjava.getGlobalConfig();
            JinjavaInterpreter interpreter = new JinjavaInterpreter(jinjava,
                    new Context(jinjava.getGlobalContext(), context, config.getDisabled()), config);
            JinjavaInterpreter.pushCurrent(interpreter);
            try {
                String out = interpreter.render(root);
                return new RenderResult(out, interpreter.getContext(), interpreter.getErrorsCopy());
            } finally {
                JinjavaInterpreter.popCurrent();
                DEADLINE.get()[0] = Long.MAX_VALUE;
            }
        });
        RenderResult result;
        try {
            result = f.get(limits.timeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new ChatTemplateException("chat template did not render within its time limit of " + limits.timeout().toMillis() + " ms");
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new ChatTemplateException("interrupted while rendering the chat template", e);
        } catch (ExecutionException e) {
            throw new ChatTemplateException("chat template failed: " + describe(e.getCause()), e.getCause());
        }
        List<TemplateError> errors = result.getErrors().stream().filter(ChatTemplate::fails).collect(Collectors.toList());
        if (!errors.isEmpty()) {
            throw new ChatTemplateException("chat template failed: " + describe(errors.get(0)));
        }
        String out = result.getOutput();
        if (out.length() > limits.maxOutputChars()) {
            throw new ChatTemplateException("chat template output exceeds " + limits.maxOutputChars() + " characters");
        }
        return out;
    }

    /**
     * Jinjava reports some faults Python's Jinja raises on (a stray end tag, a bad argument) as
     * warnings; those fail the render too. Warnings about unknown names stay warnings: Jinja renders
     * an undefined variable as empty, and templates rely on it ({@code if tools}).
     */
    private static boolean fails(TemplateError err) {
        if (err.getSeverity() == TemplateError.ErrorType.FATAL) {
            return true;
        }
        switch (err.getReason()) {
            case SYNTAX_ERROR: case EXCEPTION: case OUTPUT_TOO_BIG: case OVER_LIMIT: case COLLECTION_TOO_BIG:
            case INVALID_ARGUMENT: case INVALID_INPUT: case DISABLED:
                return true;
            default:
                return false;
        }
    }

    private static String describe(TemplateError err) {
        for (Throwable c = err.getException(); c != null; c = c.getCause()) {
            if (c instanceof RenderTimeoutException) {
                return c.getMessage();
            }
        }
        Throwable raised = err.getException();
        while (raised != null && !(raised instanceof TemplateRaisedException)) {
            raised = raised.getCause();
        }
        if (raised != null) {
            return "template raised: " + raised.getMessage();
        }
        return err.getMessage() + (err.getLineno() > 0 ? " (line " + err.getLineno() + ")" : "");
    }

    private static String describe(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof TemplateRaisedException) {
                return "template raised: " + c.getMessage();
            }
            if (c instanceof RenderTimeoutException) {
                return c.getMessage();
            }
        }
        return t instanceof InterpretException || t == null ? String.valueOf(t == null ? null : t.getMessage()) : t.toString();
    }

    /** Python's {@code x[::-1]}: a reversed copy of a list or string (see {@link JinjaCompat}). */
    static final class ReversedFilter implements Filter {
        @Override
        public String getName() {
            return JinjaCompat.REVERSED_FILTER;
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (var == null) {
                return null;
            }
            if (var instanceof String) {
                return new StringBuilder((String) var).reverse().toString();
            }
            List<Object> copy;
            if (var instanceof Collection) {
                copy = new ArrayList<>((Collection<?>) var);
            } else if (var instanceof Object[]) {
                copy = new ArrayList<>(Arrays.asList((Object[]) var));
            } else {
                throw new IllegalArgumentException("cannot reverse a " + var.getClass().getSimpleName());
            }
            Collections.reverse(copy);
            return copy;
        }
    }
}
