package io.optune.connectors.files;

import io.optune.connectors.files.feedback.FeedbackDirectorySource;
import io.optune.engine.Json;
import org.apache.flink.api.common.serialization.Encoder;
import org.apache.flink.connector.file.sink.FileSink;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.functions.sink.filesystem.bucketassigners.BasePathBucketAssigner;
import org.apache.flink.streaming.api.functions.sink.filesystem.rollingpolicies.OnCheckpointRollingPolicy;

import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A feedback edge through a directory: a {@link FileSink} writes records as JSON lines and commits
 * a file per checkpoint (exactly once: in-progress files are hidden until the checkpoint
 * completes), and a {@link FeedbackDirectorySource} reads committed files back and deletes each once
 * a checkpoint after its reading completes. Flink 2.x has no in-job iteration, so this is how a
 * downstream step (pair) updates upstream keyed state (select) consistently with checkpoints; the
 * price is a delay of about one checkpoint interval. The directory belongs to the job: give it one
 * that holds nothing else.
 */
public final class JsonLinesFeedback {
    private JsonLinesFeedback() {}

    public static <T> FileSink<T> sink(String directory) {
        Encoder<T> encoder = (element, stream) -> {
            stream.write(Json.write(element).getBytes(StandardCharsets.UTF_8));
            stream.write('\n');
        };
        return FileSink.forRowFormat(new Path(directory), encoder)
                .withBucketAssigner(new BasePathBucketAssigner<>())
                .withRollingPolicy(OnCheckpointRollingPolicy.build())
                .build();
    }

    /** Reads the committed files of {@code directory} once each and deletes them after the consuming checkpoint. */
    public static FeedbackDirectorySource source(String directory, Duration pollInterval) {
        return FeedbackDirectorySource.consuming(directory, pollInterval);
    }

    /** A bounded (or, with a poll interval, directory-watching) JSONL prompt source for replays. */
    public static FileSource<String> jsonLines(String path, Duration watchInterval) {
        FileSource.FileSourceBuilder<String> b = FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(path));
        if (watchInterval != null && !watchInterval.isZero()) {
            b.monitorContinuously(watchInterval);
        }
        return b.build();
    }
}
