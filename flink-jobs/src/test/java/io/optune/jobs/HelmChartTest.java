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
        // A hung checkpoint expires and fails the job over: the loop's stall watchdog.
        assertThat(conf.path("execution.checkpointing.timeout").asText()).isEqualTo("10min");
        assertThat(conf.path("execution.checkpointing.tolerable-failed-checkpoints").asText()).isEqualTo("0");
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
    void podsRunLockedDown() throws Exception {
        JsonNode pod = kind(render(new Helm(CHART)), "FlinkDeployment").path("spec").path("podTemplate").path("spec");
        JsonNode podSecurity = pod.path("securityContext");
        assertThat(podSecurity.path("runAsNonRoot").asBoolean()).isTrue();
        assertThat(podSecurity.path("runAsUser").asInt()).isNotZero();
        assertThat(podSecurity.path("seccompProfile").path("type").asText()).isEqualTo("RuntimeDefault");
        JsonNode main = pod.path("containers").get(0);
        assertThat(main.path("name").asText()).isEqualTo("flink-main-container");
        JsonNode c = main.path("securityContext");
        assertThat(c.path("allowPrivilegeEscalation").isBoolean()).isTrue();
        assertThat(c.path("allowPrivilegeEscalation").asBoolean()).isFalse();
        assertThat(c.path("privileged").asBoolean()).isFalse();
        assertThat(c.path("readOnlyRootFilesystem").asBoolean()).isTrue();
        assertThat(c.path("capabilities").path("drop")).extracting(JsonNode::asText).containsExactly("ALL");
        // A read-only root needs writable scratch for Flink's tmp and log dirs and DJL's native cache.
        List<String> mounts = new ArrayList<>();
        main.path("volumeMounts").forEach(m -> mounts.add(m.path("mountPath").asText()));
        assertThat(mounts).contains("/tmp", "/opt/flink/log", "/opt/optune/djl-cache");
        List<String> emptyDirs = new ArrayList<>();
        pod.path("volumes").forEach(v -> {
            if (v.has("emptyDir")) {
                emptyDirs.add(v.path("name").asText());
            }
        });
        assertThat(emptyDirs).containsExactlyInAnyOrder("flink-tmp", "flink-log", "djl-cache");
        assertThat(main.path("env").findValuesAsText("value")).contains("/opt/optune/djl-cache");
    }

    @Test
    void restServiceStaysInsideTheCluster() throws Exception {
        List<JsonNode> docs = render(new Helm(CHART));
        JsonNode conf = kind(docs, "FlinkDeployment").path("spec").path("flinkConfiguration");
        assertThat(conf.path("kubernetes.rest-service.exposed.type").asText()).isEqualTo("ClusterIP");
        assertThat(kind(docs, "FlinkDeployment").path("spec").has("ingress")).isFalse();
        assertThat(docs).extracting(d -> d.path("kind").asText()).doesNotContain("Ingress", "Service");
    }

    @Test
    void networkPolicyAdmitsRestOnlyFromNamedNamespaces() throws Exception {
        JsonNode np = kind(render(new Helm(CHART)), "NetworkPolicy").path("spec");
        assertThat(np.path("podSelector").path("matchLabels").path("app").asText()).isEqualTo("align-optune-flink");
        assertThat(np.path("policyTypes")).extracting(JsonNode::asText).containsExactly("Ingress"); // egress open by default
        JsonNode rules = np.path("ingress");
        boolean restRuleSeen = false;
        for (JsonNode rule : rules) {
            List<Integer> ports = new ArrayList<>();
            rule.path("ports").forEach(p -> ports.add(p.path("port").asInt()));
            if (ports.contains(8081)) {
                restRuleSeen = true;
                assertThat(ports).containsExactly(8081);
                assertThat(rule.path("from")).allSatisfy(f -> {
                    assertThat(f.has("namespaceSelector")).isTrue();
                    assertThat(f.has("ipBlock")).isFalse();
                });
                assertThat(rule.path("from").findValuesAsText("kubernetes.io/metadata.name")).containsExactly("flink-operator");
            } else if (ports.isEmpty()) {
                // Only the deployment's own pods may use every port.
                assertThat(rule.path("from")).hasSize(1);
                assertThat(rule.path("from").get(0).path("podSelector").path("matchLabels").path("app").asText())
                        .isEqualTo("align-optune-flink");
            } else {
                assertThat(ports).containsExactly(9249);
            }
        }
        assertThat(restRuleSeen).isTrue();
    }

    @Test
    void networkPolicyCanRestrictEgressAndBeTurnedOff() throws Exception {
        Helm helm = new Helm(CHART);
        String yaml = helm.template().withName("align")
                .set("networkPolicy.egress.restrict", true)
                .set("networkPolicy.rest.fromNamespaces[0]", "ops")
                .set("networkPolicy.rest.fromNamespaces[1]", "flink-operator")
                .set("networkPolicy.egress.allow[0].to[0].ipBlock.cidr", "10.0.12.0/24")
                .set("networkPolicy.egress.allow[0].ports[0].port", 9093)
                .call();
        List<JsonNode> docs = new ArrayList<>();
        new ObjectMapper().readValues(new YAMLFactory().createParser(yaml), JsonNode.class).forEachRemaining(docs::add);
        JsonNode np = kind(docs, "NetworkPolicy").path("spec");
        assertThat(np.path("policyTypes")).extracting(JsonNode::asText).containsExactly("Ingress", "Egress");
        assertThat(np.path("egress").findValuesAsText("cidr")).containsExactly("10.0.12.0/24");
        assertThat(np.path("ingress").findValuesAsText("kubernetes.io/metadata.name")).contains("ops", "flink-operator");
        String off = helm.template().withName("align").set("networkPolicy.enabled", false).call();
        assertThat(off).doesNotContain("kind: NetworkPolicy");
    }

    @Test
    void signingKeysComeFromASecretMountedReadOnly() throws Exception {
        JsonNode d = kind(render(new Helm(CHART)), "FlinkDeployment");
        JsonNode pod = d.path("spec").path("podTemplate").path("spec");
        JsonNode keys = null;
        for (JsonNode v : pod.path("volumes")) {
            if (v.path("name").asText().equals("signing-keys")) {
                keys = v;
            }
        }
        assertThat(keys).isNotNull();
        assertThat(keys.path("secret").path("secretName").asText()).isEqualTo("optune-signing-keys");
        assertThat(keys.path("secret").path("defaultMode").asInt()).isEqualTo(0400);
        assertThat(pod.path("containers").get(0).path("volumeMounts")).anySatisfy(m -> {
            assertThat(m.path("name").asText()).isEqualTo("signing-keys");
            assertThat(m.path("readOnly").asBoolean()).isTrue();
        });
        assertThat(args(d)).containsSubsequence("--optune.weights.signing.private-key", "/opt/optune/keys/policy-signing.key")
                .containsSubsequence("--optune.weights.signing.public-key", "/opt/optune/keys/policy-signing.pub");
        String off = new Helm(CHART).template().withName("align").set("signing.enabled", false).call();
        assertThat(off).doesNotContain("signing-keys").contains("--optune.weights.signing.enabled");
    }

    @Test
    void theRewardServiceTokenComesFromASecretFileAndNeverFromValues() throws Exception {
        String yaml = new Helm(CHART).template().withName("align").set("reward.tokenSecret", "rm-token")
                .set("reward.tokenKey", "bearer").call();
        JsonNode d = null;
        for (JsonNode n : new ObjectMapper().readValues(new YAMLFactory().createParser(yaml), JsonNode.class).readAll()) {
            if (n != null && n.path("kind").asText().equals("FlinkDeployment")) {
                d = n;
            }
        }
        assertThat(d).isNotNull();
        JsonNode pod = d.path("spec").path("podTemplate").path("spec");
        assertThat(pod.path("volumes")).anySatisfy(v -> {
            assertThat(v.path("name").asText()).isEqualTo("reward-token");
            assertThat(v.path("secret").path("secretName").asText()).isEqualTo("rm-token");
            assertThat(v.path("secret").path("defaultMode").asInt()).isEqualTo(0400);
        });
        assertThat(pod.path("containers").get(0).path("volumeMounts")).anySatisfy(m -> {
            assertThat(m.path("name").asText()).isEqualTo("reward-token");
            assertThat(m.path("mountPath").asText()).isEqualTo("/opt/optune/reward-token");
            assertThat(m.path("readOnly").asBoolean()).isTrue();
        });
        assertThat(args(d)).containsSubsequence("--optune.reward.http.token-file", "/opt/optune/reward-token/bearer");
        assertThat(new Helm(CHART).template().withName("align").call()).doesNotContain("reward-token");
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
