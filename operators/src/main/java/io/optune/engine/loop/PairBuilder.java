package io.optune.engine.loop;

import io.optune.engine.train.PairWeighting;

import java.util.List;
import java.util.Optional;

/**
 * Merges a prompt's freshly scored responses with its memory and picks the training pair:
 * chosen = the best response seen so far (new or stored), rejected = the worst of the new ones, so
 * the rejected side always reflects the current policy's failure mode. Pairs whose reward gap is
 * below {@code minGap} teach nothing (often identical responses) and are dropped.
 */
public final class PairBuilder {
    private final double minGap;
    private final PairWeighting weighting;
    private final double beta2;

    public PairBuilder(double minGap, PairWeighting weighting, double beta2) {
        if (!(minGap >= 0) || weighting == null || !(beta2 >= 0)) {
            throw new IllegalArgumentException("minGap >= 0, a weighting and beta2 >= 0 required");
        }
        this.minGap = minGap;
        this.weighting = weighting;
        this.beta2 = beta2;
    }

    /** A scored response. */
    public record Scored(Response response, double reward) {}

    /** A training pair (token ids and decoded text of both responses) with its unnormalised weight. */
    public record Pair(Response chosen, double chosenReward, Response rejected, double rejectedReward, double weight) {
        public double gap() {
            return chosenReward - rejectedReward;
        }
    }

    /** The prompt's new memory and its pair, if the gap is large enough. */
    public record Outcome(ResponseMemory memory, Optional<Pair> pair) {}

    /**
     * @param stored the prompt's memory, or null for a new prompt
     * @param prompt the prompt's ids as the new responses were generated from
     * @param fresh new responses with finite rewards (at least one)
     */
    public Outcome merge(ResponseMemory stored, int[] prompt, List<Scored> fresh, long policyVersion) {
        if (fresh.isEmpty()) {
            throw new IllegalArgumentException("no scored responses to merge");
        }
        Scored best = fresh.get(0);
        Scored worst = fresh.get(0);
        double latest = Double.NEGATIVE_INFINITY;
        for (Scored s : fresh) {
            if (!Double.isFinite(s.reward())) {
                throw new IllegalArgumentException("non-finite reward " + s.reward() + " reached the pair builder");
            }
            latest = Math.max(latest, s.reward());
            if (s.reward() > best.reward()) {
                best = s;
            }
            if (s.reward() < worst.reward()) {
                worst = s;
            }
        }
        // A stored chosen response was generated from the stored prompt ids, which are the new ones
        // unless the prompt's rendering changed (a new chat template): then it cannot be paired with them.
        if (stored != null && stored.chosenReward() > best.reward() && java.util.Arrays.equals(stored.prompt(), prompt)) {
            best = new Scored(stored.chosen(), stored.chosenReward());
        }
        ResponseMemory memory = new ResponseMemory(prompt, best.response(), best.reward(), worst.response(), worst.reward(), latest,
                policyVersion);
        return new Outcome(memory, pairOf(memory));
    }

    /**
     * A prompt's memory when a newer one arrives: the newer memory, except that the chosen response
     * stays the best either has seen (two generations of one prompt were in flight). The same rule
     * as {@link #merge}, for the select step, which receives whole memories.
     */
    public static ResponseMemory keepBestChosen(ResponseMemory current, ResponseMemory next) {
        // Only a chosen response to the same prompt ids can stand in (a chat template or tokenizer change gives new ids).
        if (current == null || current.chosenReward() <= next.chosenReward()
                || !java.util.Arrays.equals(current.prompt(), next.prompt())) {
            return next;
        }
        return new ResponseMemory(next.prompt(), current.chosen(), current.chosenReward(), next.rejected(), next.rejectedReward(),
                next.latestReward(), Math.max(current.policyVersion(), next.policyVersion()));
    }

    /** The pair stored in a memory (for prompts that are not regenerated). */
    public Optional<Pair> pairOf(ResponseMemory m) {
        double gap = m.gap();
        if (gap < minGap || gap <= 0 || m.chosen().sameIds(m.rejected())) {
            return Optional.empty();
        }
        return Optional.of(new Pair(m.chosen(), m.chosenReward(), m.rejected(), m.rejectedReward(), weighting.raw(gap, beta2)));
    }
}
