package io.optune.operators.records;

import io.optune.engine.Json;
import io.optune.engine.loop.PairBuilder;
import io.optune.engine.loop.Response;
import io.optune.engine.tokenizer.ChatMessage;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.typeutils.ObjectArrayTypeInfo;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The records that carry token ids through the stream and its state are POJOs of primitive arrays:
 * they serialise with generic types (Kryo) disabled, as the job runs, and come back identical. The
 * memory also crosses the feedback edge as JSON.
 */
class TokenIdRecordsTest {
    private static final SerializerConfigImpl NO_KRYO = new SerializerConfigImpl();

    static {
        NO_KRYO.setGenericTypes(false); // as pipeline.generic-types: false; any Kryo fallback throws
    }

    private static final int[] PROMPT = {50256, 31373, 995};
    private static final Response CHOSEN = new Response(new int[] {2978, 5439, 50256}, "hello");
    private static final Response REJECTED = new Response(new int[] {11, 12}, "ab");
    private static final StoredPair MEMORY = new StoredPair(PROMPT, CHOSEN, 0.9, REJECTED, 0.1, 0.9, 4);
    private static final Prompt CHAT = new Prompt("p1", "r1", "", List.of(ChatMessage.user("hi")), "", 1L);

    private static <T> T roundTrip(Class<T> type, T value) throws Exception {
        TypeInformation<T> info = TypeInformation.of(type);
        assertThat(info).as(type.getSimpleName()).isInstanceOf(PojoTypeInfo.class);
        TypeSerializer<T> serializer = info.createSerializer(NO_KRYO);
        DataOutputSerializer out = new DataOutputSerializer(256);
        serializer.serialize(value, out);
        T back = serializer.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
        assertThat(back).usingRecursiveComparison().isEqualTo(value);
        assertThat(serializer.copy(value)).usingRecursiveComparison().isEqualTo(value);
        return back;
    }

    @Test
    void idsTravelAsPrimitiveArraysWithoutKryo() throws Exception {
        PojoTypeInfo<Generation> generation = (PojoTypeInfo<Generation>) TypeInformation.of(Generation.class);
        assertThat(generation.getTypeAt("promptIds")).isEqualTo(PrimitiveArrayTypeInfo.INT_PRIMITIVE_ARRAY_TYPE_INFO);
        assertThat(generation.getTypeAt("responses")).isInstanceOf(ObjectArrayTypeInfo.class);
        PojoTypeInfo<SampledResponse> sampled = (PojoTypeInfo<SampledResponse>) TypeInformation.of(SampledResponse.class);
        assertThat(sampled.getTypeAt("logProbs")).isEqualTo(PrimitiveArrayTypeInfo.FLOAT_PRIMITIVE_ARRAY_TYPE_INFO);
        PojoTypeInfo<StoredPair> stored = (PojoTypeInfo<StoredPair>) TypeInformation.of(StoredPair.class);
        assertThat(stored.getTypeAt("chosen")).isInstanceOf(PojoTypeInfo.class);

        GenerationRequest request = new GenerationRequest(CHAT, MEMORY, 3L);
        roundTrip(GenerationRequest.class, request);
        roundTrip(GenerationRequest.class, new GenerationRequest(CHAT, null, 3L));
        Generation g = new Generation(request, PROMPT, new SampledResponse[] {
            new SampledResponse(CHOSEN.ids(), new float[] {-0.5f, -1.25f, -0.01f}, false, "hello"),
            new SampledResponse(new int[] {7, 7, 7, 7}, new float[] {-2f, -2f, -2f, -2f}, true, "cut"),
        }, 9, 7);
        roundTrip(Generation.class, g);
        roundTrip(ScoredGeneration.class, new ScoredGeneration(g, new double[] {0.2, 0.1}));
        roundTrip(StoredPair.class, MEMORY);
        roundTrip(MemoryUpdate.class, new MemoryUpdate("p1", MEMORY));
        PreferencePair pair = new PreferencePair("p1", "r1", CHAT.display(), PROMPT,
                new PairBuilder.Pair(CHOSEN, 0.9, REJECTED, 0.1, 2.0), 9, true);
        roundTrip(PreferencePair.class, pair);
        roundTrip(PreferenceBatch.class, new PreferenceBatch(new PreferencePair[] {pair, pair}, 5L));
    }

    @Test
    void theMemoryCrossesTheFeedbackEdgeAsJsonWithItsIds() {
        MemoryUpdate u = new MemoryUpdate("p1", MEMORY);
        String line = Json.write(u);
        assertThat(line).contains("\"promptIds\":[50256,31373,995]").contains("\"ids\":[2978,5439,50256]");
        MemoryUpdate back = Json.read(line, MemoryUpdate.class);
        assertThat(back).usingRecursiveComparison().isEqualTo(u);
        assertThat(MemoryUpdate.parse(line)).hasValueSatisfying(p -> assertThat(p).usingRecursiveComparison().isEqualTo(u));
        // A line of layout 1 (texts, no ids) is not an update of this layout: skipped, never half-read.
        String layout1 = "{\"promptId\":\"p1\",\"memory\":{\"chosen\":\"cba\",\"chosenReward\":1.0,\"rejected\":\"abc\","
                + "\"rejectedReward\":0.3,\"latestReward\":1.0,\"policyVersion\":2}}";
        assertThat(MemoryUpdate.parse(layout1)).isEmpty();
        assertThat(MemoryUpdate.parse("{\"promptId\":\"p1\"}")).isEmpty();
        assertThat(MemoryUpdate.parse("not json")).isEmpty();
    }
}
