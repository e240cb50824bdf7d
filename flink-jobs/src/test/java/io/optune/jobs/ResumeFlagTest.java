package io.optune.jobs;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class ResumeFlagTest {
    @Test
    void resumeWithOrWithoutADirectoryBecomesTheOption() {
        assertThat(ResumeFlag.expand(new String[] {"--resume"})).containsExactly("--optune.embedded.resume", "latest");
        assertThat(ResumeFlag.expand(new String[] {"--resume", "runs/a", "--optune.seed", "2"}))
                .containsExactly("--optune.embedded.resume", "runs/a", "--optune.seed", "2");
        assertThat(ResumeFlag.expand(new String[] {"--resume", "--optune.seed", "2"}))
                .containsExactly("--optune.embedded.resume", "latest", "--optune.seed", "2");
        // one argument holding all (as a build tool property passes them)
        assertThat(ResumeFlag.expand(new String[] {"--optune.seed 2 --resume"})).containsExactly("--optune.seed 2 --optune.embedded.resume latest");
        assertThat(ResumeFlag.expand(new String[] {"--resume runs/a --optune.seed 2"}))
                .containsExactly("--optune.embedded.resume runs/a --optune.seed 2");
        assertThat(ResumeFlag.expand(new String[] {"--optune.select.rho", "0.25"})).containsExactly("--optune.select.rho", "0.25");
    }

    @Test
    void theResumeCommandKeepsTheOptionsAndNamesTheRun() {
        Path run = Path.of("runs/20261127-140509").toAbsolutePath();
        assertThat(ResumeFlag.command(List.of("--optune.select.strategy", "ALL", "--resume", "runs/old", "--optune.embedded.run-dir",
                "x"), run)).isEqualTo("bin/optune-embedded --optune.select.strategy ALL --resume runs/20261127-140509");
        assertThat(ResumeFlag.command(List.of("--optune.kafka.properties.sasl.jaas.config", "a b;"), Path.of("/tmp/r")))
                .isEqualTo("bin/optune-embedded --optune.kafka.properties.sasl.jaas.config 'a b;' --resume /tmp/r");
    }
}
