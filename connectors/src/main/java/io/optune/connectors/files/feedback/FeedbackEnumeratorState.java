package io.optune.connectors.files.feedback;

import java.util.List;

/**
 * What the enumerator checkpoints: files discovered and not yet assigned ({@code pending}); in the
 * consuming mode, files assigned and still listed in the directory ({@code assigned}: they are being
 * read, or read and waiting for the checkpoint that allows their deletion); in the ordered mode, the
 * highest file order assigned so far. Its size is bounded by the files in flight, not by history.
 */
public record FeedbackEnumeratorState(List<String> pending, List<String> assigned, long highestAssigned) {
    public static final FeedbackEnumeratorState EMPTY = new FeedbackEnumeratorState(List.of(), List.of(), -1);

    public FeedbackEnumeratorState {
        pending = List.copyOf(pending);
        assigned = List.copyOf(assigned);
    }
}
