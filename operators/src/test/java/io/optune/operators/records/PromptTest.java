package io.optune.operators.records;

import io.optune.engine.tokenizer.ChatMessage;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.typeutils.ListTypeInfo;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A chat prompt crosses Flink's wire and state with generic types (Kryo) disabled, as the job runs. */
class PromptTest {

    @Test
    void chatPromptSerialisesWithoutKryo() throws Exception {
        TypeInformation<Prompt> info = TypeInformation.of(Prompt.class);
        assertThat(info).isInstanceOf(PojoTypeInfo.class);
        SerializerConfigImpl config = new SerializerConfigImpl();
        config.setGenericTypes(false); // as pipeline.generic-types: false; any Kryo fallback now throws
        assertThat(config.hasGenericTypesDisabled()).isTrue();
        assertThatThrownBy(() -> TypeInformation.of(Object.class).createSerializer(config))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThat(((PojoTypeInfo<Prompt>) info).getTypeAt("messages")).isInstanceOf(ListTypeInfo.class);
        TypeSerializer<Prompt> serializer = info.createSerializer(config);

        Prompt chat = new Prompt("p1", "r1", "", List.of(ChatMessage.system("Be brief."), ChatMessage.user("Sort 3 1 2")), "t", 7L);
        Prompt text = new Prompt("p2", "", "rev ab=", "", 8L);
        for (Prompt p : List.of(chat, text)) {
            DataOutputSerializer out = new DataOutputSerializer(256);
            serializer.serialize(p, out);
            Prompt back = serializer.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
            assertThat(back).isEqualTo(p);
            assertThat(serializer.copy(p)).isEqualTo(p);
        }
        assertThat(chat.isChat()).isTrue();
        assertThat(text.isChat()).isFalse();
        assertThat(chat.display()).contains("\"role\":\"user\"").contains("Sort 3 1 2");
        assertThat(DeadLetter.of(chat, "generate", "r", "d").payload()).isEqualTo(chat.display());
    }
}
