package io.optune.connectors.files.feedback;

import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Version 1: pending paths, assigned paths (each a count, then modified UTF-8 strings), highest order assigned. */
public final class FeedbackEnumeratorStateSerializer implements SimpleVersionedSerializer<FeedbackEnumeratorState> {
    public static final FeedbackEnumeratorStateSerializer INSTANCE = new FeedbackEnumeratorStateSerializer();
    private static final int VERSION = 1;

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(FeedbackEnumeratorState state) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(256);
        writePaths(out, state.pending());
        writePaths(out, state.assigned());
        out.writeLong(state.highestAssigned());
        return out.getCopyOfBuffer();
    }

    @Override
    public FeedbackEnumeratorState deserialize(int version, byte[] bytes) throws IOException {
        if (version != VERSION) {
            throw new IOException("unknown feedback enumerator state version " + version + " (this build reads " + VERSION + ")");
        }
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        List<String> pending = readPaths(in);
        List<String> assigned = readPaths(in);
        return new FeedbackEnumeratorState(pending, assigned, in.readLong());
    }

    private static void writePaths(DataOutputSerializer out, List<String> paths) throws IOException {
        out.writeInt(paths.size());
        for (String p : paths) {
            out.writeUTF(p);
        }
    }

    private static List<String> readPaths(DataInputDeserializer in) throws IOException {
        int n = in.readInt();
        List<String> paths = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            paths.add(in.readUTF());
        }
        return paths;
    }
}
