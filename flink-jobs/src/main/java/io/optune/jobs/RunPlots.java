package io.optune.jobs;

import io.optune.operators.records.PolicyUpdate;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The run's curves against time since the job started: held-out reward, DPO loss and margin (per
 * published version), the realised regeneration share and the weight-sync lag (per progress
 * interval). Written as {@code plots.png} and a self-contained {@code plots.html} (the image inline
 * and the numbers as tables) in the run directory, at every progress tick and at the end.
 */
final class RunPlots {
    static final String PNG = "plots.png";
    static final String HTML = "plots.html";

    private RunPlots() {}

    /** Writes both files; a failure to plot is reported, never fatal to the run. */
    static void write(EmbeddedMain.Summary s, Path runDir, Consumer<String> say) {
        write(s.versions(), s.timeline(), s.jobStartedAt(), s.baselineVersion(), runDir, say, true);
    }

    static void write(List<PolicyUpdate> versions, List<EmbeddedMain.Progress> timeline, long jobStartedAt, long baselineVersion,
            Path runDir, Consumer<String> say, boolean announce) {
        try {
            System.setProperty("java.awt.headless", "true");
            byte[] png = png(versions, timeline, jobStartedAt, baselineVersion);
            replace(runDir.resolve(PNG), png);
            replace(runDir.resolve(HTML), html(png, versions, timeline, jobStartedAt, baselineVersion).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            if (announce) {
                say.accept("plots written to " + runDir.resolve(PNG) + " and " + runDir.resolve(HTML));
            }
        } catch (IOException | RuntimeException | LinkageError e) {
            say.accept("(plots not written: " + e + ")");
        }
    }

    private static void replace(Path target, byte[] bytes) throws IOException {
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
        Files.write(tmp, bytes);
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    static byte[] png(List<PolicyUpdate> versions, List<EmbeddedMain.Progress> timeline, long jobStartedAt, long baselineVersion)
            throws IOException {
        XYSeries heldOut = new XYSeries("held-out gold reward");
        XYSeries loss = new XYSeries("DPO loss");
        XYSeries margin = new XYSeries("DPO margin");
        for (PolicyUpdate v : versions) {
            if (v.version() < baselineVersion) {
                continue; // earlier runs of a resumed weight log
            }
            double t = Math.max(0, (v.publishedAt() - jobStartedAt) / 1e3);
            if (!Double.isNaN(v.heldOutReward())) {
                heldOut.add(t, v.heldOutReward());
            }
            if (v.version() > baselineVersion) {
                addFinite(loss, t, v.loss());
                addFinite(margin, t, v.margin());
            }
        }
        XYSeries share = new XYSeries("regenerated share (per interval)");
        XYSeries lag = new XYSeries("weight sync lag, ms (mean per interval)");
        EmbeddedMain.Progress prev = null;
        for (EmbeddedMain.Progress p : timeline) {
            long dr = p.promptsRegenerated() - (prev == null ? 0 : prev.promptsRegenerated());
            long du = p.promptsReused() - (prev == null ? 0 : prev.promptsReused());
            if (dr + du > 0) {
                share.add(p.seconds(), (double) dr / (dr + du));
            }
            if (p.weightSyncLagMs() != null) {
                lag.add(p.seconds(), p.weightSyncLagMs());
            }
            prev = p;
        }
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(new NumberAxis("seconds since the job started"));
        plot.setGap(8);
        plot.add(panel(heldOut, "held-out reward", new Color(0x1f77b4)), 2);
        plot.add(panel(loss, "loss", new Color(0xd62728)), 1);
        plot.add(panel(margin, "DPO margin", new Color(0x2ca02c)), 1);
        plot.add(panel(share, "regenerated", new Color(0x9467bd)), 1);
        plot.add(panel(lag, "sync lag (ms)", new Color(0x8c564b)), 1);
        JFreeChart chart = new JFreeChart("OPTune embedded run", JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ChartUtils.writeChartAsPNG(out, chart, 900, 1100);
        return out.toByteArray();
    }

    private static void addFinite(XYSeries s, double x, double y) {
        if (Double.isFinite(y)) {
            s.add(x, y);
        }
    }

    private static XYPlot panel(XYSeries series, String axis, Color color) {
        NumberAxis y = new NumberAxis(axis);
        y.setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, series.getItemCount() < 60);
        r.setSeriesPaint(0, color);
        r.setSeriesStroke(0, new BasicStroke(1.8f));
        XYPlot p = new XYPlot(new XYSeriesCollection(series), null, y, r);
        p.setBackgroundPaint(Color.WHITE);
        p.setRangeGridlinePaint(Color.LIGHT_GRAY);
        p.setDomainGridlinePaint(Color.LIGHT_GRAY);
        return p;
    }

    static String html(byte[] png, List<PolicyUpdate> versions, List<EmbeddedMain.Progress> timeline, long jobStartedAt,
            long baselineVersion) {
        StringBuilder b = new StringBuilder("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>OPTune embedded run</title>\n"
                + "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
                + "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>\n"
                + "<h1>OPTune embedded run</h1>\n<img alt=\"curves\" src=\"data:image/png;base64,")
                .append(Base64.getEncoder().encodeToString(png)).append("\">\n");
        b.append("<h2>Policy versions</h2>\n<p>loss, margin and log-ratio are means over the trainer steps since the previous version; "
                + "log-ratio is the mean log &pi;/&pi;<sub>ref</sub> of the trained responses, not a KL divergence.</p>\n"
                + "<table><tr><th>seconds</th><th>version</th><th>step</th><th>held-out reward</th><th>loss</th><th>margin</th>"
                + "<th>log-ratio</th><th>pair reward</th><th>fresh pairs</th></tr>\n");
        for (PolicyUpdate v : versions) {
            if (v.version() < baselineVersion) {
                continue;
            }
            b.append(String.format(Locale.ROOT, "<tr><td>%.1f</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                            + "<td>%s</td><td>%s</td></tr>%n", Math.max(0, (v.publishedAt() - jobStartedAt) / 1e3), v.version(), v.step(),
                    num(v.heldOutReward()), num(v.loss()), num(v.margin()), num(v.logRatioMean()), num(v.reward()),
                    num(v.freshFraction())));
        }
        b.append("</table>\n<h2>Progress</h2>\n<table><tr><th>seconds</th><th>prompts in</th><th>regenerated</th><th>reused</th>"
                + "<th>generated tokens</th><th>pairs trained</th><th>sync lag ms (interval mean)</th></tr>\n");
        for (EmbeddedMain.Progress p : timeline) {
            b.append(String.format(Locale.ROOT, "<tr><td>%.0f</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td></tr>%n",
                    p.seconds(), p.promptsIn(), p.promptsRegenerated(), p.promptsReused(), p.generatedTokens(), p.pairsTrained(),
                    p.weightSyncLagMs() == null ? "" : num(p.weightSyncLagMs())));
        }
        return b.append("</table>\n</body></html>\n").toString();
    }

    private static String num(double x) {
        return Double.isNaN(x) ? "" : String.format(Locale.ROOT, "%.3f", x);
    }
}
