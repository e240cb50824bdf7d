package io.optune.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Lints and renders the Helm chart with Helm's own library (no helm binary needed) and checks the manifests. */
class HelmChartTest {
    private static final Path CHART = Path.of("..", "helm", "optune-flink");

    private static List<JsonNode> render(Helm helm) throws Exception {
        String yaml = helm.template().withName("align").withNamespace("ml").call();
        List<JsonNode> docs = new ArrayList<>();
        var parser = new YAMLFactory().createParser(yaml);
        ObjectMapper mapper = new ObjectMapper();
        for (var it = mapper.readValues(parser, JsonNode.class); it.hasNext(); ) {
            JsonNode n = it.next();
            if (n != null && !n.isNull() && !n.isMissingNode()) {
                docs.add(n);
            }
        }
        return docs;
    }

    private static JsonNode kind(List<JsonNode> docs, String kind) {
        return docs.stream().filter(d -> kind.equals(d.path("kind").asText())).findFirst().orElseThrow();
    }

    private static List<String> args(JsonNode deployment) {
        List<String> out = new ArrayList<>();
        deployment.path("spec").path("job").path("args").forEach(a -> out.add(a.asText()));
        return out;
    }

    /** The operator's CRD (1.15.0), shipped beside the repository in shared/ when available. */
    private static final Path CRD = Path.of("..", "..", "shared", "k8s", "crds", "flinkdeployments.flink.apache.org-v1.15.0.yml");

    @Test
    void renderedSpecUsesOnlyFieldsTheOperatorsCrdDefines() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.exists(CRD), "CRD not available: " + CRD);
        JsonNode crd = new ObjectMapper(new YAMLFactory()).readTree(CRD.toFile());
        JsonNode version = crd.path("spec").path("versions").get(0).path("schema").path("openAPIV3Schema").path("properties").path("spec");
        JsonNode d = kind(render(new Helm(CHART)), "FlinkDeployment").path("spec");
        d.fieldNames().forEachRemaining(f -> assertThat(version.path("properties").has(f)).as("spec.%s in the CRD", f).isTrue());
        d.path("job").fieldNames().forEachRemaining(f ->
                assertThat(version.path("properties").path("job").path("properties").has(f)).as("spec.job.%s in the CRD", f).isTrue());
        List<String> flinkVersions = new ArrayList<>();
        version.path("properties").path("flinkVersion").path("enum").forEach(v -> flinkVersions.add(v.asText()));
        assertThat(flinkVersions).contains(d.path("flinkVersion").asText());
        List<String> upgradeModes = new ArrayList<>();
        version.path("properties").path("job").path("properties").path("upgradeMode").path("enum").forEach(v -> upgradeModes.add(v.asText()));
        assertThat(upgradeModes).contains(d.path("job").path("upgradeMode").asText());
    }

    @Test
    void chartLintsCleanly() {
        LintResult result = new Helm(CHART).lint().strict().call();
        assertThat(result.isFailed()).as(String.join("\n", result.getMessages())).isFalse();
    }

    @Test
    void defaultValuesRenderAFlinkDeploymentForTheOperator() throws Exception {
        List<JsonNode> docs = render(new Helm(CHART));
        JsonNode d = kind(docs, "FlinkDeployment");
        JsonNode spec = d.path("spec");
        assertThat(d.path("apiVersion").asText()).isEqualTo("flink.apache.org/v1beta1");
        assertThat(d.path("metadata").path("name").asText()).isEqualTo("align-optune-flink");
        assertThat(spec.path("image").asText()).endsWith(":0.1.0");
        assertThat(spec.path("flinkVersion").asText()).isEqualTo("v2_2");
        assertThat(spec.path("job").path("upgradeMode").asText()).isEqualTo("last-state");
        assertThat(spec.path("job").path("entryClass").asText()).isEqualTo("io.optune.jobs.OptuneJob");
        JsonNode conf = spec.path("flinkConfiguration");
        assertThat(conf.path("state.backend.type").asText()).isEqualTo("rocksdb");
        assertThat(conf.path("high-availability.type").asText()).isEqualTo("kubernetes");
        assertThat(conf.path("classloader.parent-first-patterns.additional").asText()).isEqualTo("ai.djl.");
        assertThat(conf.path("execution.checkpointing.dir").asText()).startsWith("s3://");
        assertThat(args(d)).containsSubsequence("--optune.weights.path", "s3://CHANGE-ME/optune/weights")
                .doesNotContain("KAFKA");
        assertThat(spec.path("podTemplate").path("metadata").path("annotations").path("prometheus.io/scrape").asText()).isEqualTo("true");
        assertThat(spec.path("taskManager").path("podTemplate").isMissingNode()).isTrue(); // no GPU by default
        JsonNode cm = docs.stream().filter(x -> x.path("metadata").path("name").asText().endsWith("-conf")).findFirst().orElseThrow();
        assertThat(cm.path("data").path("optune.yaml").asText()).contains("strategy: OPTUNE");
        assertThat(d.path("metadata").path("labels").path("app.kubernetes.io/instance").asText()).isEqualTo("align");
    }

    @Test
    void gpuKafkaAndTuningValuesReachTheManifests() throws Exception {
        Helm helm = new Helm(CHART);
        List<JsonNode> docs = render(helm);
        assertThat(docs).isNotEmpty();
        String yaml = helm.template().withName("align")
                .set("taskManager.gpu", 1)
                .set("kafka.bootstrapServers", "kafka:9092")
                .set("kafka.promptsTopic", "prompts")
                .set("kafka.updatesTopic", "updates")
                .set("kafka.credentialsSecret", "kafka-creds")
                .set("optune.select.rho", 0.25)
                .set("job.parallelism", 4)
                .call();
        List<JsonNode> custom = new ArrayList<>();
        new ObjectMapper().readValues(new YAMLFactory().createParser(yaml), JsonNode.class).forEachRemaining(custom::add);
        JsonNode d = kind(custom, "FlinkDeployment");
        JsonNode tm = d.path("spec").path("taskManager").path("podTemplate").path("spec").path("containers").get(0);
        assertThat(tm.path("name").asText()).isEqualTo("flink-main-container");
        assertThat(tm.path("resources").path("limits").path("nvidia.com/gpu").asInt()).isEqualTo(1);
        assertThat(args(d)).containsSubsequence("--optune.source.type", "KAFKA")
                .containsSubsequence("--optune.kafka.bootstrap-servers", "kafka:9092")
                .containsSubsequence("--optune.kafka.updates.topic", "updates");
        assertThat(args(d).stream().filter("--optune.kafka.bootstrap-servers"::equals)).hasSize(1);
        assertThat(d.path("spec").path("job").path("parallelism").asInt()).isEqualTo(4);
        assertThat(d.path("spec").path("podTemplate").path("spec").path("containers").get(0)
                .path("envFrom").get(0).path("secretRef").path("name").asText()).isEqualTo("kafka-creds");
        assertThat(kind(custom, "ConfigMap").path("data").path("optune.yaml").asText()).containsPattern("rho: \"?0.25\"?");
    }

    @Test
    void theGrafanaDashboardShipsAsAConfigMapForTheSidecar() throws Exception {
        List<JsonNode> docs = render(new Helm(CHART));
        JsonNode cm = docs.stream().filter(x -> x.path("metadata").path("name").asText().equals("align-optune-flink-grafana-dashboard"))
                .findFirst().orElseThrow();
        assertThat(cm.path("kind").asText()).isEqualTo("ConfigMap");
        assertThat(cm.path("metadata").path("labels").path("grafana_dashboard").asText()).isEqualTo("1");
        JsonNode dashboard = new ObjectMapper().readTree(cm.path("data").path("optune-flink.json").asText());
        assertThat(dashboard).isEqualTo(GrafanaDashboard.read());
        List<String> titles = new ArrayList<>();
        dashboard.path("panels").forEach(p -> titles.add(p.path("title").asText()));
        assertThat(titles).contains("Held-out gold reward", "DPO loss", "DPO margin", "Realised regeneration share", "Weight-sync lag");

        // Every metric a panel queries is one an operator registers (operator scope in Prometheus:
        // flink_taskmanager_job_task_operator_<name>), read from the operators' registrations.
        java.util.Set<String> registered = new java.util.TreeSet<>();
        var registration = java.util.regex.Pattern.compile("\\.(?:counter|gauge|histogram|meter)\\(\"([A-Za-z0-9_]+)\"");
        try (var files = java.nio.file.Files.walk(Path.of("..", "operators", "src", "main", "java", "io", "optune", "operators"))) {
            for (Path f : files.filter(x -> x.toString().endsWith(".java")).toList()) {
                var m = registration.matcher(java.nio.file.Files.readString(f));
                while (m.find()) {
                    registered.add("flink_taskmanager_job_task_operator_" + m.group(1));
                }
            }
        }
        assertThat(registered).contains("flink_taskmanager_job_task_operator_loss");
        assertThat(GrafanaDashboard.metricNames()).hasSizeGreaterThanOrEqualTo(10).isSubsetOf(registered);

        String off = new Helm(CHART).template().withName("align").set("grafana.dashboard.enabled", false).call();
        assertThat(off).doesNotContain("grafana-dashboard");
    }
}
