/**
 * {@link io.optune.connectors.files.feedback.FeedbackDirectorySource}: the file-based feedback edges of the
 * job (memory updates, policy-update announcements) with bounded storage and bounded source state.
 */
package io.optune.connectors.files.feedback;
