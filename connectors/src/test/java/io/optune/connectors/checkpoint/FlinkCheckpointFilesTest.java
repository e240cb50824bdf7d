package io.optune.connectors.checkpoint;

import ai.djl.ndarray.NDManager;
import io.optune.engine.checkpoint.CheckpointException;
import io.optune.engine.checkpoint.GenerationSettings;
import io.optune.engine.checkpoint.HfCheckpoint;
import io.optune.engine.checkpoint.HfCheckpointWriter;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.model.Batches;
import io.optune.engine.model.ModelConfig;
import io.optune.engine.model.TransformerLM;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A checkpoint written and read back through Flink's {@code FileSystem} API (local file system). */
class FlinkCheckpointFilesTest {
    @TempDir
    Path tmp;

    @Test
    void aCheckpointRoundTripsThroughFlinksFileSystem() throws Exception {
        FlinkCheckpointFiles dir = FlinkCheckpointFiles.of(tmp.resolve("policy").toUri().toString());
        assertThat(dir.describe()).startsWith("file:");
        try (NDManager manager = NDManager.newBaseManager();
                TransformerLM model = TransformerLM.create(ModelConfig.gpt2(40, 16, 16, 1, 2), manager, 1, false)) {
            Files.createDirectories(tmp.resolve("policy"));
            HfCheckpointWriter.write(model, new GenerationSettings(List.of(2), 0, 1), dir, SafeTensorsStream.Dtype.F32);
            assertThat(dir.exists(HfCheckpoint.CONFIG)).isTrue();
            assertThat(dir.exists("tokenizer.json")).isFalse();
            try (TransformerLM back = HfCheckpoint.load(dir, manager).model(); NDManager m = manager.newSubManager()) {
                Batches.Inputs in = Batches.rightPadded(m, List.of(new int[] {1, 4, 7}), 0);
                assertThat(back.logits(back.hidden(in.tokens(), in.positions(), in.bias(), null)).toFloatArray())
                        .containsExactly(model.logits(model.hidden(in.tokens(), in.positions(), in.bias(), null)).toFloatArray());
            }
            Files.delete(tmp.resolve("policy").resolve(HfCheckpoint.WEIGHTS));
            assertThatThrownBy(() -> HfCheckpoint.load(dir, manager))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("model.safetensors");
        }
        assertThatThrownBy(() -> dir.open("../escape")).isInstanceOf(IllegalArgumentException.class);
    }
}
