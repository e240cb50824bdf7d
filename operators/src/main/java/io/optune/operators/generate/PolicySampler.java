package io.optune.operators.generate;

import ai.djl.ndarray.NDManager;
import io.optune.engine.DeviceTurns;
import io.optune.engine.EngineDevice;
import io.optune.engine.InvalidInputException;
import io.optune.engine.PromptEncoder;
import io.optune.engine.Rng;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.generate.Completion;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.model.Precision;
import io.optune.engine.model.TransformerLM;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.weights.VerifiedVersion;

import java.util.ArrayList;
import java.util.List;

/**
 * The generator's engine side: the policy copy, its tokenizer and the sampling RNG, used by one
 * thread at a time (the generator's sampling thread once the operator is open), so a version load
 * never swaps the policy under a batch being sampled. Turns a micro-batch of requests into
 * {@link Generation}s, or into dead letters for prompts the policy cannot take.
 */
final class PolicySampler implements AutoCloseable {
    private final SamplingConfig sampling;
    private final int maxPromptTokens;
    private final String device;
    private final Precision precision;
    private final boolean colocated;
    private final NDManager manager;
    private final Rng rng;

    private TransformerLM policy;
    private PromptEncoder encoder;
    private Generator generator;
    private volatile long version = -1;

    PolicySampler(SamplingConfig sampling, int maxPromptTokens, String device, Precision precision, boolean colocated, Rng rng) {
        this.sampling = sampling;
        this.maxPromptTokens = maxPromptTokens;
        this.device = device;
        this.precision = precision;
        this.colocated = colocated;
        this.rng = rng;
        this.manager = NDManager.newBaseManager(EngineDevice.parse(device));
    }

    /** The version samples are drawn from now (-1 before the first load); read from any thread. */
    long version() {
        return version;
    }

    long rngState() {
        return rng.state();
    }

    /** Replaces the policy with a verified version; the previous one is closed, none is left half-loaded. */
    void load(VerifiedVersion v) throws Exception {
        PolicyUpdate update = v.update();
        PolicyDirectory.Loaded loaded = PolicyDirectory.load(v.dir(), manager);
        if (policy != null && !policy.config().equals(loaded.model().config())) {
            loaded.model().close();
            throw new IllegalArgumentException("policy version " + update.version() + " is for model " + loaded.model().config()
                    + ", the generator runs " + policy.config());
        }
        int context = loaded.model().config().contextLength();
        if (maxPromptTokens + sampling.maxNewTokens() > context) {
            loaded.model().close();
            throw new IllegalArgumentException("max prompt tokens (" + maxPromptTokens + ") + max new tokens ("
                    + sampling.maxNewTokens() + ") exceed the policy's context of " + context);
        }
        loaded.model().storeForInference(precision);
        TransformerLM old = policy;
        policy = loaded.model();
        encoder = new PromptEncoder(loaded.tokenizer(), maxPromptTokens);
        generator = new Generator(policy, loaded.tokenizer()); // stops at any of its EOS ids
        version = update.version();
        if (old != null) {
            old.close();
        }
    }

    /**
     * What sampling one micro-batch gave: generations in request order, the prompts refused (dead
     * letters), or, when {@code deferred}, nothing at all (the device was busy and the batch asked
     * for an idle one: its requests go back to the buffer).
     */
    record Sampled(List<GenerationRequest> requests, List<Generation> generations, List<DeadLetter> deadLetters,
            boolean deferred, long busyUs, long waitedMs, int prompts, long tokens, RuntimeException failure) {
        static Sampled deferred(List<GenerationRequest> requests) {
            return new Sampled(requests, List.of(), List.of(), true, 0, 0, 0, 0, null);
        }
    }

    /**
     * Samples K responses per request. {@code idleOnly} (colocated partial batches): sample only if
     * no DPO step holds the device now, else return {@link Sampled#deferred}.
     */
    Sampled sample(List<GenerationRequest> batch, boolean idleOnly) throws InterruptedException {
        List<DeadLetter> deadLetters = new ArrayList<>();
        List<GenerationRequest> accepted = new ArrayList<>(batch.size());
        List<int[]> prompts = new ArrayList<>(batch.size());
        DeviceTurns.Turn idle = null;
        if (idleOnly && colocated) {
            idle = DeviceTurns.tryTake(device);
            if (idle == null) {
                return Sampled.deferred(batch);
            }
        }
        try (DeviceTurns.Turn held = idle) {
            for (GenerationRequest r : batch) {
                try {
                    prompts.add(encoder.encode(r.prompt().text(), r.prompt().messages()));
                    accepted.add(r);
                } catch (InvalidInputException e) {
                    deadLetters.add(DeadLetter.of(r.prompt(), "generate", e.reason(), e.getMessage()));
                }
            }
            if (accepted.isEmpty()) {
                return new Sampled(batch, List.of(), deadLetters, false, 0, 0, 0, 0, null);
            }
            List<Completion> completions;
            long busyUs;
            long waitedMs;
            try (DeviceTurns.Turn turn = held != null ? held : DeviceTurns.take(device, colocated)) {
                waitedMs = turn.waitedMs();
                long start = System.nanoTime();
                completions = generator.generate(manager, prompts, sampling, rng);
                busyUs = (System.nanoTime() - start) / 1_000;
            } catch (RuntimeException e) {
                // A replay would fail the same way (same RNG, same policy): dead-letter instead of looping.
                for (GenerationRequest r : accepted) {
                    deadLetters.add(DeadLetter.of(r.prompt(), "generate", "generation-failed", String.valueOf(e.getMessage())));
                }
                return new Sampled(batch, List.of(), deadLetters, false, 0, 0, 0, 0, e);
            }
            int k = sampling.samplesPerPrompt();
            List<Generation> generations = new ArrayList<>(accepted.size());
            long total = 0;
            for (int i = 0; i < accepted.size(); i++) {
                SampledResponse[] responses = new SampledResponse[k];
                int tokens = 0;
                for (int s = 0; s < k; s++) {
                    Completion c = completions.get(i * k + s);
                    // Decoded once, here: the ids travel on to training, the text to the reward model and the audit.
                    responses[s] = new SampledResponse(c.tokens(), c.logProbs(), !c.finished(), encoder.tokenizer().decode(c.tokens()));
                    tokens += c.tokens().length;
                }
                total += tokens;
                generations.add(new Generation(accepted.get(i), prompts.get(i), responses, version, tokens));
            }
            return new Sampled(batch, generations, deadLetters, false, busyUs, waitedMs, prompts.size(), total, null);
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
