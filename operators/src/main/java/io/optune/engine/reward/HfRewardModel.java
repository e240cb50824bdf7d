package io.optune.engine.reward;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.GradMode;
import io.optune.engine.InvalidInputException;
import io.optune.engine.checkpoint.CheckpointException;
import io.optune.engine.checkpoint.CheckpointFiles;
import io.optune.engine.checkpoint.HfCheckpoint;
import io.optune.engine.checkpoint.LocalCheckpointFiles;
import io.optune.engine.model.Batches;
import io.optune.engine.model.RopePrecision;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.tokenizer.ChatMessage;
import io.optune.engine.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Hugging Face reward model ({@code LlamaForSequenceClassification}, {@code Mistral...},
 * {@code Qwen2...}, {@code Qwen3...}, {@code GPT2ForSequenceClassification}, all with
 * {@code num_labels} 1) scoring inside the job, loaded by the policy's loader ({@link HfCheckpoint})
 * and read through its own tokenizer and chat template.
 *
 * <p>What the model reads:
 * <ul>
 *   <li>a chat query: the prompt's messages plus an assistant turn holding the response, rendered by
 *       the reward tokenizer's chat template without a generation prompt (the template may differ
 *       from the policy's: the conversation is re-rendered as this model was trained to read it);
 *       a reward tokenizer without a template refuses chat prompts ({@code unscorable-prompt});
 *   <li>a text query: the reward tokenizer's BOS when it has one, then the encoding of the single
 *       string {@code prompt + response} (no separator, no EOS added), as a reward model scores a
 *       plain transcript.
 * </ul>
 *
 * <p>The score is the head's output at the last non-pad token, as transformers'
 * {@code *ForSequenceClassification.forward}: with {@code pad_token_id} set, the rightmost
 * position whose id is not the pad id (so a sequence ending in a token that equals the pad id, such
 * as an EOS used as pad, is read before it; a sequence of pads only is read at 0); without one,
 * the last token. Transformers refuses batches without a pad id; here each row's real length is
 * known, so the last-token rule holds per row in a batch too.
 *
 * <p>Sequences longer than the model's context score NaN (counted in {@link #overLong()}):
 * truncating would score a conversation the user did not have (a cut prompt changes what the
 * response answers), and the score step drops and counts non-finite rewards. Text a tokenizer
 * cannot encode and chat turns its template refuses score NaN as well.
 *
 * <p>Scoring runs in chunks of {@link Settings#batchSize()} sequences per forward pass, rows sorted
 * by length first so a chunk pads little; results return in query order.
 */
public final class HfRewardModel implements RewardModel, AutoCloseable {
    /** The tokenizer files {@link #stageTokenizer} copies (the first, or its gzip, must exist). */
    private static final List<String> TOKENIZER_FILES = List.of(
            "tokenizer.json", "tokenizer.json.gz", "tokenizer_config.json", "generation_config.json", "chat_template.jinja");

    /**
     * @param batchSize sequences per forward pass (>= 1)
     * @param device the engine device, e.g. {@code cpu}, {@code gpu} or {@code gpu:N}; null for the engine's default
     * @param ropePrecision RoPE frequencies rounded to a half type (to reproduce a transformers model
     *     cast to one, see {@link RopePrecision}); null for float32 frequencies
     */
    public record Settings(int batchSize, String device, RopePrecision ropePrecision) {
        public static final int DEFAULT_BATCH_SIZE = 16;

        public Settings {
            if (batchSize < 1) {
                throw new IllegalArgumentException("reward batch size must be >= 1, was " + batchSize);
            }
        }

        public static Settings defaults() {
            return new Settings(DEFAULT_BATCH_SIZE, null, null);
        }

        public Settings withBatchSize(int n) {
            return new Settings(n, device, ropePrecision);
        }

        public Settings withDevice(String d) {
            return new Settings(batchSize, d, ropePrecision);
        }

        public Settings withRopePrecision(RopePrecision p) {
            return new Settings(batchSize, device, p);
        }
    }

    private final NDManager manager;
    private final TransformerLM model;
    private final Tokenizer tokenizer;
    /** {@code pad_token_id} of the config, or -1 when it has none. */
    private final int padTokenId;
    private final int batchSize;
    private final String name;
    private final AtomicLong overLong = new AtomicLong();
    private final AtomicLong unencodable = new AtomicLong();

    private HfRewardModel(NDManager manager, TransformerLM model, Tokenizer tokenizer, int padTokenId, int batchSize, String name) {
        this.manager = manager;
        this.model = model;
        this.tokenizer = tokenizer;
        this.padTokenId = padTokenId;
        this.batchSize = batchSize;
        this.name = name;
    }

    /**
     * Loads a reward checkpoint onto the settings' device.
     *
     * @param tokenizer the reward model's own tokenizer; null for a model that only scores token ids
     *     ({@link #scoreTokens})
     * @throws CheckpointException when the directory is not a one-label sequence classifier or its
     *     tensors do not fit its config
     */
    public static HfRewardModel load(CheckpointFiles checkpoint, Tokenizer tokenizer, Settings settings) {
        JsonNode config = HfCheckpoint.readConfigJson(checkpoint);
        if (!HfCheckpoint.isRewardModel(config)) {
            throw new CheckpointException(checkpoint.describe() + " is not a reward model: its config.json names "
                    + config.path("architectures") + ", a reward checkpoint is a *ForSequenceClassification with num_labels 1");
        }
        int labels = HfCheckpoint.labelCount(config);
        if (labels != -1 && labels != 1) {
            throw new CheckpointException(checkpoint.describe() + " is a sequence classifier with " + labels
                    + " labels (num_labels " + labels + "); a reward model has exactly one (num_labels 1)");
        }
        int pad = config.hasNonNull("pad_token_id") ? config.get("pad_token_id").asInt() : -1;
        NDManager manager = settings.device() == null ? NDManager.newBaseManager()
                : NDManager.newBaseManager(io.optune.engine.EngineDevice.parse(settings.device()));
        try {
            TransformerLM model = HfCheckpoint.load(checkpoint, manager, settings.ropePrecision()).model();
            if (tokenizer != null && tokenizer.vocabSize() > model.config().vocabSize()) {
                // Ids past the embedding would fail inside the forward pass; say which files disagree.
                throw new CheckpointException("the reward tokenizer has " + tokenizer.vocabSize() + " ids but "
                        + checkpoint.describe() + " embeds only " + model.config().vocabSize());
            }
            String arch = config.path("architectures").path(0).asText("reward");
            return new HfRewardModel(manager, model, tokenizer, pad, settings.batchSize(), arch);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * A local directory holding the tokenizer files of {@code checkpoint}: the directory itself when
     * it is local, else a copy under {@code java.io.tmpdir} named after the checkpoint's location
     * (refreshed on every call; the tokenizer loader hashes the files, so a changed tokenizer is seen).
     */
    public static Path stageTokenizer(CheckpointFiles checkpoint) {
        if (checkpoint instanceof LocalCheckpointFiles local) {
            return local.dir();
        }
        try {
            Path dir = Path.of(System.getProperty("java.io.tmpdir"), "optune-reward-tokenizer-" + shortHash(checkpoint.describe()));
            Files.createDirectories(dir);
            boolean any = false;
            for (String f : TOKENIZER_FILES) {
                if (checkpoint.exists(f)) {
                    Path tmp = Files.createTempFile(dir, f, ".part");
                    try (InputStream in = checkpoint.open(f)) {
                        Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                    }
                    Files.move(tmp, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    any |= f.startsWith("tokenizer.json");
                } else {
                    Files.deleteIfExists(dir.resolve(f));
                }
            }
            if (!any) {
                throw new CheckpointException(checkpoint.describe() + " has no tokenizer.json (name the reward tokenizer's "
                        + "directory separately)");
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy the reward tokenizer of " + checkpoint.describe(), e);
        }
    }

    private static String shortHash(String s) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public TransformerLM model() {
        return model;
    }

    /** Sequences scored NaN so far because they exceeded the model's context. */
    public long overLong() {
        return overLong.get();
    }

    /** Queries scored NaN so far because the tokenizer or the chat template refused them. */
    public long unencodable() {
        return unencodable.get();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String accepts() {
        String chat = tokenizer != null && tokenizer.hasChatTemplate() ? "chat or text prompts" : "text prompts only (its tokenizer has no chat template)";
        return chat + " whose prompt and response fit its context of " + model.config().contextLength() + " tokens (longer ones score NaN)";
    }

    /** The token ids the model reads for a query (see the class comment for the rule). */
    public int[] encode(RewardQuery q) {
        if (tokenizer == null) {
            throw new IllegalStateException("this reward model was loaded without a tokenizer: it scores token ids only");
        }
        if (q.isChat()) {
            if (!tokenizer.hasChatTemplate()) {
                throw new InvalidInputException("unscorable-prompt", "reward model '" + name + "' has no chat template: "
                        + "it scores text prompts only");
            }
            List<ChatMessage> turns = new ArrayList<>(q.messages());
            turns.add(ChatMessage.assistant(q.response()));
            return tokenizer.encodeChat(turns, false);
        }
        int[] text = tokenizer.encode(q.prompt() + q.response());
        if (tokenizer.bosId().isEmpty()) {
            return text;
        }
        int[] out = new int[text.length + 1];
        out[0] = tokenizer.bosId().getAsInt();
        System.arraycopy(text, 0, out, 1, text.length);
        return out;
    }

    /**
     * Scores queries; a query whose prompt the model refuses as a whole (a chat prompt without a
     * chat template) fails the call with {@code unscorable-prompt}, single unencodable or over-long
     * queries score NaN.
     */
    @Override
    public double[] score(List<RewardQuery> queries) {
        List<int[]> rows = new ArrayList<>(queries.size());
        for (RewardQuery q : queries) {
            int[] ids;
            try {
                ids = encode(q);
            } catch (InvalidInputException e) {
                if ("unscorable-prompt".equals(e.reason())) {
                    throw e;
                }
                unencodable.incrementAndGet();
                ids = null;
            }
            rows.add(ids);
        }
        return scoreTokens(rows);
    }

    /**
     * Scores sequences of token ids as given (padding included, if any: the last non-pad rule finds
     * the end). A null or empty row, or one longer than the context, scores NaN.
     */
    public double[] scoreTokens(List<int[]> rows) {
        GradMode.off();
        double[] out = new double[rows.size()];
        Arrays.fill(out, Double.NaN);
        int context = model.config().contextLength();
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            int[] r = rows.get(i);
            if (r == null || r.length == 0) {
                continue;
            }
            if (r.length > context) {
                overLong.incrementAndGet();
                continue;
            }
            order.add(i);
        }
        order.sort((a, b) -> Integer.compare(rows.get(a).length, rows.get(b).length));
        for (int from = 0; from < order.size(); from += batchSize) {
            List<Integer> chunk = order.subList(from, Math.min(order.size(), from + batchSize));
            List<int[]> batch = new ArrayList<>(chunk.size());
            long[] last = new long[chunk.size()];
            for (int j = 0; j < chunk.size(); j++) {
                int[] r = rows.get(chunk.get(j));
                batch.add(r);
                last[j] = lastTokenIndex(r, padTokenId);
            }
            float[] s = forward(batch, last);
            for (int j = 0; j < chunk.size(); j++) {
                out[chunk.get(j)] = s[j];
            }
        }
        return out;
    }

    private float[] forward(List<int[]> batch, long[] last) {
        try (NDManager m = model.manager().newSubManager()) {
            // Padded columns carry the pad id (any id would do: the mask hides them from real positions).
            Batches.Inputs in = Batches.rightPadded(m, batch, Math.max(padTokenId, 0));
            NDArray perPosition = model.scalarHead(model.hidden(in.tokens(), in.positions(), in.bias(), null));
            NDArray idx = m.create(last, new Shape(last.length, 1));
            return perPosition.gather(idx, 1).squeeze(1).toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
        }
    }

    /**
     * Where transformers reads a sequence's score: the rightmost position whose id is not
     * {@code padTokenId} (0 when every id is the pad), or the last position when there is no pad id.
     */
    public static int lastTokenIndex(int[] ids, int padTokenId) {
        if (padTokenId < 0) {
            return ids.length - 1;
        }
        for (int j = ids.length - 1; j >= 0; j--) {
            if (ids[j] != padTokenId) {
                return j;
            }
        }
        return 0;
    }

    @Override
    public void close() {
        model.close();
        manager.close();
    }
}
