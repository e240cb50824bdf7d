package io.optune.operators.weights;

import io.optune.engine.checkpoint.HfCheckpoint;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.tokenizer.ChatMessage;
import io.optune.engine.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The tokenizer of the policy in a {@link WeightLog}, for operators that need it before any model
 * (ingest validates prompts with it): it travels as the log's configuration and, on first use in
 * the task, loads the tokenizer files of the newest verified version (only those files).
 */
public final class WeightLogTokenizer implements Tokenizer {
    private static final long serialVersionUID = 1L;

    private final WeightLog log;
    private transient volatile Tokenizer loaded;

    public WeightLogTokenizer(WeightLog log) {
        this.log = log;
    }

    private Tokenizer tokenizer() {
        Tokenizer t = loaded;
        if (t == null) {
            synchronized (this) {
                if (loaded == null) {
                    loaded = load();
                }
                t = loaded;
            }
        }
        return t;
    }

    private Tokenizer load() {
        UntrustedVersionException[] lastRefusal = {null};
        try (VerifiedVersion v = log.newestVerified(e -> lastRefusal[0] = e,
                n -> PolicyDirectory.TOKENIZER_FILES.contains(n) || n.equals(HfCheckpoint.GENERATION))) {
            return PolicyDirectory.loadTokenizer(v.dir());
        } catch (IllegalStateException e) {
            if (lastRefusal[0] != null) {
                e.addSuppressed(lastRefusal[0]); // why the newest version was refused
            }
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the policy's tokenizer from the weight log: " + e.getMessage(), e);
        }
    }

    @Override
    public int vocabSize() {
        return tokenizer().vocabSize();
    }

    @Override
    public int padId() {
        return tokenizer().padId();
    }

    @Override
    public OptionalInt bosId() {
        return tokenizer().bosId();
    }

    @Override
    public int[] eosIds() {
        return tokenizer().eosIds();
    }

    @Override
    public int eosId() {
        return tokenizer().eosId();
    }

    @Override
    public boolean isEos(int id) {
        return tokenizer().isEos(id);
    }

    @Override
    public int[] encode(String text) {
        return tokenizer().encode(text);
    }

    @Override
    public String decode(int[] ids) {
        return tokenizer().decode(ids);
    }

    @Override
    public boolean hasChatTemplate() {
        return tokenizer().hasChatTemplate();
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages) {
        return tokenizer().encodeChat(messages);
    }

    @Override
    public Map<String, Object> spec() {
        return tokenizer().spec();
    }
}
