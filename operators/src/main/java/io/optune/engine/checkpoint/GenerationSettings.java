package io.optune.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.optune.engine.Json;

import java.util.ArrayList;
import java.util.List;

/**
 * The token ids of {@code generation_config.json} (or, lacking it, {@code config.json}): end of
 * sequence (one id or a list), padding and beginning of sequence, each optional.
 */
public record GenerationSettings(List<Integer> eosTokenIds, Integer padTokenId, Integer bosTokenId) {
    public GenerationSettings {
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    public static GenerationSettings fromJson(JsonNode c) {
        List<Integer> eos = new ArrayList<>();
        JsonNode e = c.path("eos_token_id");
        if (e.isArray()) {
            e.forEach(x -> eos.add(x.asInt()));
        } else if (e.canConvertToInt()) {
            eos.add(e.asInt());
        }
        return new GenerationSettings(eos, intOrNull(c, "pad_token_id"), intOrNull(c, "bos_token_id"));
    }

    private static Integer intOrNull(JsonNode c, String key) {
        return c.path(key).canConvertToInt() ? c.get(key).asInt() : null;
    }

    /** As {@code generation_config.json}. */
    public ObjectNode toJson() {
        ObjectNode o = Json.MAPPER.createObjectNode();
        if (bosTokenId != null) {
            o.put("bos_token_id", bosTokenId);
        }
        if (eosTokenIds.size() == 1) {
            o.put("eos_token_id", eosTokenIds.get(0));
        } else if (!eosTokenIds.isEmpty()) {
            eosTokenIds.forEach(o.putArray("eos_token_id")::add);
        }
        if (padTokenId != null) {
            o.put("pad_token_id", padTokenId);
        }
        return o;
    }
}
