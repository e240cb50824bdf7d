package io.optune.jobs;

import io.optune.operators.records.PolicyUpdate;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class RunPlotsTest {
    /** A run like the demo's: 60 versions over 5 minutes, progress every 15 s. Written under target/ to look at. */
    @Test
    void writesAPngAndASelfContainedHtmlPage() throws Exception {
        long start = 1_000_000;
        List<PolicyUpdate> versions = new ArrayList<>();
        for (int v = 0; v <= 60; v++) {
            double t = v * 5.0;
            versions.add(new PolicyUpdate(v, 20L * v, "file:/w/v" + v, "sha", start + (long) (t * 1000),
                    v == 0 ? Double.NaN : 1.2 - 0.6 * v / 60, v == 0 ? Double.NaN : 0.1 * v, -0.02 * v, 0.9, 0.1,
                    0.57 + 0.15 * (1 - Math.exp(-v / 20.0)) + 0.01 * Math.sin(v)));
        }
        List<EmbeddedMain.Progress> timeline = new ArrayList<>();
        for (int i = 1; i <= 20; i++) {
            timeline.add(new EmbeddedMain.Progress(15.0 * i, 1500L * i, (long) (1500 * i * (0.2 + 0.8 / i)), (long) (1500 * i * 0.8 * (1 - 1.0 / i)),
                    20_000L * i, 300L * i, 10 * i, i == 3 ? null : 200.0 + 30 * Math.sin(i), 9_000_000L * i, 4_000_000L * i, 40L * i));
        }
        Path dir = Files.createDirectories(Path.of("target", "plots-test"));
        List<String> said = new ArrayList<>();
        RunPlots.write(versions, timeline, start, 0, dir, said::add, true);
        assertThat(said).singleElement().asString().startsWith("plots written to");

        byte[] png = Files.readAllBytes(dir.resolve(RunPlots.PNG));
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
        assertThat(image.getWidth()).isEqualTo(900);
        assertThat(image.getHeight()).isEqualTo(1100);
        String html = Files.readString(dir.resolve(RunPlots.HTML));
        assertThat(html).contains("data:image/png;base64,").contains("<td>60</td>").doesNotContain("src=\"http")
                .contains("not a KL divergence");
        assertThat(java.util.Base64.getDecoder().decode(html.replaceAll("(?s).*base64,([^\"]+)\".*", "$1"))).isEqualTo(png);
    }
}
