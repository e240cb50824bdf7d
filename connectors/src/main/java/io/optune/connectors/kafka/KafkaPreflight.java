package io.optune.connectors.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

import java.time.Duration;
import java.util.Collection;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Checks before submitting a job that the broker answers, the credentials work and the topics exist,
 * so a misconfiguration is one clear error at start instead of a restart loop inside the job.
 */
public final class KafkaPreflight {
    private KafkaPreflight() {}

    /** @throws IllegalStateException naming the broker or topic and what is wrong */
    public static void check(String bootstrapServers, Collection<String> topics, Properties clientProperties, Duration timeout) {
        Properties p = new Properties();
        p.putAll(clientProperties);
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        try (Admin admin = Admin.create(p)) {
            Set<String> existing = admin.listTopics().names().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            for (String t : topics) {
                if (!existing.contains(t)) {
                    throw new IllegalStateException("Kafka topic '" + t + "' does not exist on " + bootstrapServers
                            + " (create it first; see the README for the topics the job uses)");
                }
            }
        } catch (TimeoutException e) {
            throw new IllegalStateException("Kafka at " + bootstrapServers + " did not answer within " + timeout.toSeconds()
                    + " s: check optune.kafka.bootstrap-servers and the network", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof AuthenticationException || c instanceof AuthorizationException) {
                throw new IllegalStateException("Kafka at " + bootstrapServers + " refused the credentials: " + c.getMessage(), c);
            }
            if (c instanceof UnknownTopicOrPartitionException) {
                throw new IllegalStateException("Kafka topic missing on " + bootstrapServers + ": " + c.getMessage(), c);
            }
            if (c instanceof org.apache.kafka.common.errors.TimeoutException) {
                throw new IllegalStateException("Kafka at " + bootstrapServers + " did not answer within " + timeout.toSeconds()
                        + " s: check optune.kafka.bootstrap-servers and the network", c);
            }
            throw new IllegalStateException("Kafka at " + bootstrapServers + " failed the start-up check: " + c, c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while checking Kafka", e);
        }
    }
}
