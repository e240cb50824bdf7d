package io.optune.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import io.optune.engine.Json;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The reward-model parity fixtures: every directory under the test resources' {@code hf-reward/}
 * (or {@code -Doptune.hf.reward.fixtures=/path}) holding a sequence-classification checkpoint and
 * an {@code expected.json}, with {@code expected.safetensors} ({@code input_ids} and
 * {@code attention_mask} of a right-padded batch, {@code rewards} (B, 1) from transformers).
 */
public final class RewardFixtures {
    public static final String ROOT_PROPERTY = "optune.hf.reward.fixtures";

    private RewardFixtures() {}

    public static Path root() throws URISyntaxException {
        String override = System.getProperty(ROOT_PROPERTY);
        if (override != null && !override.isBlank()) {
            return Path.of(override);
        }
        return Path.of(RewardFixtures.class.getResource("/hf-reward").toURI());
    }

    public static List<Path> dirs() throws IOException, URISyntaxException {
        List<Path> dirs = new ArrayList<>();
        try (Stream<Path> s = Files.list(root())) {
            s.filter(d -> Files.isRegularFile(d.resolve("expected.json")) && Files.isRegularFile(d.resolve("config.json")))
                    .filter(d -> HfCheckpoint.isRewardModel(new LocalCheckpointFiles(d)))
                    .sorted()
                    .forEach(dirs::add);
        }
        return dirs;
    }

    /** One fixture directory with its reference values. */
    public record Fixture(Path dir, JsonNode meta, Map<String, FixtureTensors.Tensor> expected) {
        public static Fixture of(Path dir) throws IOException {
            return new Fixture(dir, Json.MAPPER.readTree(dir.resolve("expected.json").toFile()),
                    FixtureTensors.read(dir.resolve("expected.safetensors")));
        }

        /** The batch's rows, cut at their attention mask or as stored (with their padding). */
        public List<int[]> rows(boolean cutAtMask) {
            FixtureTensors.Tensor ids = expected.get("input_ids");
            long[] mask = expected.get("attention_mask").longs();
            int b = ids.dim(0);
            int t = ids.dim(1);
            List<int[]> out = new ArrayList<>();
            for (int i = 0; i < b; i++) {
                int len = t;
                if (cutAtMask) {
                    len = 0;
                    for (int j = 0; j < t; j++) {
                        len += (int) mask[i * t + j];
                    }
                }
                int[] r = new int[len];
                for (int j = 0; j < len; j++) {
                    r[j] = (int) ids.longs()[i * t + j];
                }
                out.add(r);
            }
            return out;
        }

        /** transformers' rewards, one per row. */
        public float[] rewards() {
            return expected.get("rewards").floats();
        }
    }
}
