package io.optune.connectors.files.feedback;

import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import java.io.IOException;

/** Version 1: path (modified UTF-8), offset, consumed. */
public final class FeedbackSplitSerializer implements SimpleVersionedSerializer<FeedbackSplit> {
    public static final FeedbackSplitSerializer INSTANCE = new FeedbackSplitSerializer();
    private static final int VERSION = 1;

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(FeedbackSplit split) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64 + split.path().length());
        out.writeUTF(split.path());
        out.writeLong(split.offset());
        out.writeBoolean(split.consumed());
        return out.getCopyOfBuffer();
    }

    @Override
    public FeedbackSplit deserialize(int version, byte[] bytes) throws IOException {
        if (version != VERSION) {
            throw new IOException("unknown feedback split version " + version + " (this build reads " + VERSION + ")");
        }
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        return new FeedbackSplit(in.readUTF(), in.readLong(), in.readBoolean());
    }
}
