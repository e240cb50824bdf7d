package io.optune.connectors.weights;

import io.optune.operators.records.PolicyUpdate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The policy-update source keys on the version in the announcement's file name: this pins that the
 * names {@link FileSystemWeightLog} writes carry it (a layout change must keep it, or change both).
 */
class PolicyUpdateSourcesTest {
    @TempDir
    Path dir;

    @Test
    void everyAnnouncementFileNameCarriesItsVersionAndOtherFilesAreSkipped() throws Exception {
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.toUri().toString()).build();
        log.initialize();
        for (long v : new long[] {0, 1, 2, 12}) {
            byte[] weights = {(byte) v};
            log.publish(new PolicyUpdate(v, v * 10, null, null, 123L, 0.5, 1.0, 0.1, 0.8, 0.4, 0.7), files -> {
                try (var out = files.create("model.safetensors")) {
                    out.write(weights);
                }
            });
        }
        List<Long> versions;
        try (var files = Files.list(Path.of(log.announcementsDir().toUri()))) {
            versions = files.map(f -> PolicyUpdateSources.announcedVersion(f.getFileName().toString())).sorted().toList();
        }
        assertThat(versions).containsExactly(0L, 1L, 2L, 12L);
        assertThat(PolicyUpdateSources.announcedVersion(".v000000000003.json.tmp")).isNegative();
        assertThat(PolicyUpdateSources.announcedVersion("manifest.json")).isNegative();
        assertThat(PolicyUpdateSources.announcements(log, Duration.ofMillis(200)).deletesConsumedFiles()).isFalse();
    }
}
