package io.optune.engine.reward;

import io.optune.engine.tokenizer.ChatMessage;
import java.util.List;

/**
 * One response to be scored, with the prompt it answers in the form the user sent it: plain text, or
 * chat messages (then {@code prompt} is null). Reward models render the prompt their own way (a chat
 * template of their own, a verifier's parser), so the prompt travels as given, not as policy tokens.
 *
 * @param prompt the prompt text, or null for a chat prompt
 * @param messages the chat turns, or null for a text prompt
 * @param response the response text, decoded once from the policy's tokens
 */
public record RewardQuery(String prompt, List<ChatMessage> messages, String response) {

    public RewardQuery {
        if ((prompt == null) == (messages == null)) {
            throw new IllegalArgumentException("a reward query has either a prompt text or chat messages");
        }
        if (response == null) {
            throw new IllegalArgumentException("a reward query needs a response");
        }
    }

    public static RewardQuery text(String prompt, String response) {
        return new RewardQuery(prompt, null, response);
    }

    public static RewardQuery chat(List<ChatMessage> messages, String response) {
        return new RewardQuery(null, List.copyOf(messages), response);
    }

    public boolean isChat() {
        return messages != null;
    }

    /** Queries pairing each prompt text with the response at the same index. */
    public static List<RewardQuery> texts(List<String> prompts, List<String> responses) {
        if (prompts.size() != responses.size()) {
            throw new IllegalArgumentException("prompts and responses differ in count");
        }
        List<RewardQuery> out = new java.util.ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            out.add(text(prompts.get(i), responses.get(i)));
        }
        return out;
    }
}
