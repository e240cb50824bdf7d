package io.optune.jobs;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** bin/optune-embedded hands its arguments to the job exactly as the shell split them. */
class EmbeddedScriptTest {
    @Test
    void argumentsWithSpacesQuotesAndEmptyValuesReachTheJobIntact() throws Exception {
        List<String> given = List.of("--optune.kafka.properties.sasl.jaas.config", JobConfigTest.JAAS,
                "--optune.select.strategy", "ALL", "--pipeline.name", "", "--optune.source.path", "prompts dir/it's \"here\".jsonl");
        List<String> command = new ArrayList<>(List.of("bash", "../bin/optune-embedded"));
        command.addAll(given);
        ProcessBuilder pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("OPTUNE_DRY_RUN", "1"); // prints the java command instead of building and running
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isZero();

        String printed = new String(out, StandardCharsets.UTF_8);
        assertThat(printed).endsWith("\0");
        List<String> argv = Arrays.asList(printed.substring(0, printed.length() - 1).split("\0", -1));
        assertThat(argv.get(0)).isEqualTo("java");
        int main = argv.indexOf(EmbeddedMain.class.getName());
        assertThat(main).as("the main class in %s", argv).isPositive();
        assertThat(argv.subList(main + 1, argv.size())).containsExactlyElementsOf(given);
        assertThat(argv.get(argv.indexOf("-classpath") + 1)).startsWith("flink-jobs/target/classes:");
    }
}
