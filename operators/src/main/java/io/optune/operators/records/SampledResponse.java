package io.optune.operators.records;

import io.optune.engine.loop.Response;

/**
 * One response as the generator sampled it (a Flink POJO of primitive arrays).
 *
 * @param ids sampled token ids: ending with the EOS id that stopped it, or, when {@code cut}, with
 *     none (the length limit cut it and it is trained as cut)
 * @param logProbs per token, its log-probability under the distribution it was drawn from
 *     (temperature and top-p applied; 0 for greedy decoding), as the engine computed it
 * @param cut whether the length limit ended it (no EOS was sampled)
 * @param text the ids decoded once, at generation (for the reward model and the audit log)
 */
public record SampledResponse(int[] ids, float[] logProbs, boolean cut, String text) {

    /** The ids and text, as the pair step and the memory keep them. */
    public Response response() {
        return new Response(ids, text);
    }
}
