package deploycheck

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"atrium.dev/platform/config"
)

// process is one Atrium server process as the code defines it: its name (compose service,
// Kubernetes Deployment and Service), its binary (BIN build argument, image name atrium/<bin>,
// main package <module>/cmd/<bin>) and the port platform/config gives it.
type process struct {
	name   string
	bin    string
	module string
	port   int
	// metricsPort serves /metrics when it is not port (the gateway's public listener has none).
	metricsPort int
	public      bool // published on the host by docker-compose.yml
}

// processes is the code's side of the agreement. Ports come from platform/config; when a
// process is added, add it here, to docker-compose.yml, to infra/k8s (and its
// kustomization.yaml) and to the BIN case of infra/Dockerfile.
var processes = []process{
	{name: "gateway", bin: "gatewayd", module: "gateway", port: config.GatewayPort, metricsPort: config.GatewayMetricsPort, public: true},
	{name: "tenancy", bin: "tenancyd", module: "services/tenancy", port: config.TenancyPort},
	{name: "catalog", bin: "catalogd", module: "services/catalog", port: config.CatalogPort},
	{name: "insights", bin: "insightsd", module: "services/insights", port: config.InsightsPort},
	{name: "entitlements", bin: "entitlementsd", module: "services/entitlements", port: config.EntitlementsPort},
	{name: "billing", bin: "billingd", module: "services/billing", port: config.BillingPort},
}

// tools are binaries infra/Dockerfile builds that serve nothing: no port, no Deployment.
var tools = []process{
	{name: "tenantctl", bin: "tenantctl", module: "tenantctl"},
}

// tenantctl's own variables. They live in tenantctl/internal/invocation, which this module
// cannot import: keep them in sync with it.
const (
	envTenantctlURL   = "ATRIUM_URL"
	envTenantctlToken = "ATRIUM_OPERATOR_TOKEN"
)

// urlTargets maps each variable that points at an Atrium process to that process.
var urlTargets = map[string]string{
	config.EnvTenancyURL:      "tenancy",
	config.EnvCatalogURL:      "catalog",
	config.EnvEntitlementsURL: "entitlements",
	config.EnvBillingURL:      "billing",
	envTenantctlURL:           "gateway",
}

// devPostgresMajor is the Postgres major version of the dev server (scripts/deps.sh installs
// postgresql-15); compose and the CloudNativePG cluster must run the same.
const devPostgresMajor = "15"

const (
	composePath      = "docker-compose.yml"
	dockerfilePath   = "infra/Dockerfile"
	collectorPath    = "infra/otel-collector.yaml"
	k8sDir           = "infra/k8s"
	kustomizePath    = k8sDir + "/kustomization.yaml"
	toolsModPath     = "tools/go.mod"
	goWorkPath       = "go.work"
	stripeMockModule = "github.com/stripe/stripe-mock"
	stripeMockImage  = "stripe/stripe-mock"
	collectorImage   = "otel/opentelemetry-collector"
	imagePrefix      = "atrium/"
	sharedConfigMap  = "atrium-config"
	collectorConfig  = "otel-collector" // ConfigMap holding config.yaml for the collector
)

func knownEnv() map[string]bool {
	known := map[string]bool{envTenantctlURL: true, envTenantctlToken: true}
	for _, name := range config.KnownEnv() {
		known[name] = true
	}
	return known
}

func TestDeploymentDescriptionsAgree(t *testing.T) {
	st := loadRepo(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, err := range c.run(st) {
				t.Error(err)
			}
		})
	}
}

// TestChecksCatchDrift changes one side of each agreement in a copy of the files and
// expects the checks to notice: a check that cannot fail checks nothing.
func TestChecksCatchDrift(t *testing.T) {
	root := repoRoot(t)
	files, err := readFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		file      string
		old, new  string
		wantError string
	}{
		{"compose listen port", composePath, `ATRIUM_HTTP_ADDR: ":8081"`, `ATRIUM_HTTP_ADDR: ":9081"`, "service tenancy: ATRIUM_HTTP_ADDR"},
		{"compose exposed port", composePath, `- "8082"`, `- "9082"`, "service catalog: does not expose"},
		{"compose gateway not published on its port", composePath, `"8080:8080"`, `"8080:8081"`, "service gateway: does not expose"},
		{"compose gateway published elsewhere", composePath, `"8080:8080"`, `"9090:8080"`, "not published on host port 8080"},
		{"compose BIN", composePath, "BIN: catalogd", "BIN: catalog", "BIN"},
		{"compose image name", composePath, "image: atrium/tenancyd:0.1.0", "image: atrium/tenancy:0.1.0", "image"},
		{"compose URL port", composePath, "ATRIUM_TENANCY_URL: http://tenancy:8081", "ATRIUM_TENANCY_URL: http://tenancy:8083", "ATRIUM_TENANCY_URL"},
		{"compose URL host", composePath, "ATRIUM_CATALOG_URL: http://catalog:8082", "ATRIUM_CATALOG_URL: http://catalogue:8082", "ATRIUM_CATALOG_URL"},
		{"compose database port", composePath, "postgres@postgres:5432/atrium?sslmode=disable\n  ATRIUM_SHARDS", "postgres@postgres:5433/atrium?sslmode=disable\n  ATRIUM_SHARDS", "ATRIUM_DATABASE_URL"},
		{"compose unknown variable", composePath, "ATRIUM_LOG_LEVEL: ${", "ATRIUM_LOGLEVEL: ${", "ATRIUM_LOGLEVEL"},
		{"compose latest tag", composePath, "image: redis:7.4", "image: redis:latest", "redis:latest"},
		{"compose untagged image", composePath, "image: redis:7.4", "image: redis", "not pinned"},
		{"compose stripe-mock version", composePath, "stripe/stripe-mock:v0.185.0", "stripe/stripe-mock:v0.184.0", "stripe-mock"},
		{"tools stripe-mock version", toolsModPath, "stripe-mock v0.185.0", "stripe-mock v0.186.0", "stripe-mock"},
		{"compose postgres major", composePath, "image: postgres:15.10", "image: postgres:16.4", "major"},
		{"compose collector config", composePath, "./infra/otel-collector.yaml:", "./infra/collector.yaml:", "does not mount"},
		{"k8s container port", k8sDir + "/catalog.yaml", "containerPort: 8082", "containerPort: 9082", "catalog"},
		{"k8s service port", k8sDir + "/tenancy.yaml", "      port: 8081", "      port: 9081", "Service tenancy"},
		{"k8s listen port", k8sDir + "/gateway.yaml", `value: ":8080"`, `value: ":8088"`, "ATRIUM_HTTP_ADDR"},
		{"k8s metrics port", k8sDir + "/tenancy.yaml", `prometheus.io/port: "8081"`, `prometheus.io/port: "9090"`, "prometheus.io/port"},
		{"k8s readiness path", k8sDir + "/tenancy.yaml", "path: /readyz", "path: /ready", "/readyz"},
		{"k8s liveness path", k8sDir + "/gateway.yaml", "path: /healthz", "path: /health", "/healthz"},
		{"k8s probe port", k8sDir + "/catalog.yaml", "port: http\n", "port: 8081\n", "Probe port"},
		{"k8s service selector", k8sDir + "/catalog.yaml", "  selector:\n    app.kubernetes.io/name: catalog", "  selector:\n    app.kubernetes.io/name: catalogue", "selector"},
		{"k8s image name", k8sDir + "/catalog.yaml", "image: atrium/catalogd:0.1.0", "image: atrium/catalog:0.1.0", "catalogd"},
		{"k8s configmap URL", k8sDir + "/config.yaml", "http://tenancy:8081", "http://tenancy:8083", "ATRIUM_TENANCY_URL"},
		{"k8s unknown variable", k8sDir + "/config.yaml", "ATRIUM_LOG_LEVEL: info", "ATRIUM_LOG_LVL: info", "ATRIUM_LOG_LVL"},
		{"k8s unknown secret", k8sDir + "/secrets.yaml", "ATRIUM_TOKEN_KEY:", "ATRIUM_TOKENKEY:", "ATRIUM_TOKENKEY"},
		{"k8s missing configmap", k8sDir + "/tenancy.yaml", "name: atrium-config", "name: atrium-cfg", "atrium-cfg"},
		{"k8s untagged image", k8sDir + "/otel-collector.yaml", "otel/opentelemetry-collector:0.115.0", "otel/opentelemetry-collector", "not pinned"},
		{"k8s gateway replicas", k8sDir + "/gateway.yaml", "replicas: 3", "replicas: 1", "replicas"},
		{"k8s disruption budget", k8sDir + "/gateway.yaml", "minAvailable: 2", "minAvailable: 3", "minAvailable"},
		{"k8s missing resources", k8sDir + "/catalog.yaml", "              memory: 128Mi\n", "", "requests.memory"},
		{"k8s namespace", k8sDir + "/catalog.yaml", "namespace: atrium", "namespace: default", "namespace"},
		{"k8s postgres major", k8sDir + "/postgres-main.yaml", "postgresql:15.10", "postgresql:16.4", "major"},
		{"k8s database host", k8sDir + "/secrets.yaml", "@atrium-main-rw:", "@atrium-rw:", "ATRIUM_DATABASE_URL"},
		{"compose redis without a password", composePath, `"--requirepass", "${ATRIUM_REDIS_PASSWORD:-atrium-dev-redis}"`, `"--port", "6379"`, "without --requirepass"},
		{"compose redis URL without a password", composePath, "redis://:${ATRIUM_REDIS_PASSWORD:-atrium-dev-redis}@redis", "redis://redis", "ATRIUM_REDIS_URL has no password"},
		{"compose redis URL with another password", composePath, "redis://:${ATRIUM_REDIS_PASSWORD:-atrium-dev-redis}@redis", "redis://:other@redis", "is not the redis service's --requirepass"},
		{"compose redis health check password", composePath, "REDISCLI_AUTH: ${ATRIUM_REDIS_PASSWORD:-atrium-dev-redis}", "REDISCLI_AUTH: other", "REDISCLI_AUTH"},
		{"k8s redis URL without a password", k8sDir + "/secrets.yaml", "redis://:REPLACE_WITH_REDIS_PASSWORD@redis", "redis://redis", "ATRIUM_REDIS_URL has no password"},
		{"k8s redis URL in the ConfigMap", k8sDir + "/config.yaml", "  ATRIUM_LOG_LEVEL: info", "  ATRIUM_REDIS_URL: redis://:x@redis:6379/0\n  ATRIUM_LOG_LEVEL: info", "is in a ConfigMap"},
		{"kustomization misses a file", kustomizePath, "  - catalog.yaml\n", "", "catalog.yaml"},
		{"kustomization names a missing file", kustomizePath, "  - catalog.yaml\n", "  - catalog.yaml\n  - nosuch.yaml\n", "nosuch.yaml"},
		{"collector configs differ", collectorPath, "endpoint: 0.0.0.0:8889", "endpoint: 0.0.0.0:9999", "differs"},
		{"collector OTLP port", collectorPath, "endpoint: 0.0.0.0:4318", "endpoint: 0.0.0.0:4319", "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"Dockerfile main package", dockerfilePath, "./services/catalog/cmd/catalogd", "./services/catalog/cmd/catalog", "catalogd"},
		{"Dockerfile root user", dockerfilePath, "USER 65532:65532", "USER root", "USER"},
		{"Dockerfile latest base", dockerfilePath, "static-debian12:nonroot", "static-debian12:latest", "latest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig, ok := files[tt.file]
			if !ok {
				t.Fatalf("no file %s", tt.file)
			}
			if !bytes.Contains(orig, []byte(tt.old)) {
				t.Fatalf("%s no longer contains %q: update this case", tt.file, tt.old)
			}
			changed := maps.Clone(files)
			changed[tt.file] = bytes.ReplaceAll(orig, []byte(tt.old), []byte(tt.new))
			st, err := parse(root, changed)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			errs := runChecks(st)
			for _, err := range errs {
				if strings.Contains(err.Error(), tt.wantError) {
					return
				}
			}
			t.Errorf("no check reported %q; got %d errors: %v", tt.wantError, len(errs), errors.Join(errs...))
		})
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	root := repoRoot(t)
	files, err := readFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		content string
	}{
		{"compose not YAML", composePath, "services: [\n"},
		{"compose port in long syntax", composePath, "services:\n  gateway:\n    ports:\n      - target: 8080\n"},
		{"manifest not YAML", k8sDir + "/gateway.yaml", "kind: Deployment\nspec: {\n"},
		{"manifest without kind", k8sDir + "/gateway.yaml", "metadata:\n  name: gateway\n"},
		{"collector not YAML", collectorPath, "receivers: [\n"},
		{"kustomization not YAML", kustomizePath, "resources: {\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := maps.Clone(files)
			changed[tt.file] = []byte(tt.content)
			if _, err := parse(root, changed); err == nil {
				t.Errorf("parse accepted %q in %s", tt.content, tt.file)
			}
		})
	}
}

func TestImageRefs(t *testing.T) {
	tests := []struct {
		ref              string
		repo, tag, digst string
		pinned           bool
	}{
		{"redis:7.4", "redis", "7.4", "", true},
		{"redis", "redis", "", "", false},
		{"redis:latest", "redis", "latest", "", false},
		{"localhost:5000/atrium/gatewayd", "localhost:5000/atrium/gatewayd", "", "", false},
		{"localhost:5000/atrium/gatewayd:1.2", "localhost:5000/atrium/gatewayd", "1.2", "", true},
		{"gcr.io/distroless/static@sha256:abc", "gcr.io/distroless/static", "", "sha256:abc", true},
		{"redis:${TAG}", "redis", "${TAG}", "", false},
	}
	for _, tt := range tests {
		repo, tag, digest := splitImage(tt.ref)
		if repo != tt.repo || tag != tt.tag || digest != tt.digst {
			t.Errorf("splitImage(%q) = %q, %q, %q; want %q, %q, %q", tt.ref, repo, tag, digest, tt.repo, tt.tag, tt.digst)
		}
		if got := pinnedError(tt.ref) == nil; got != tt.pinned {
			t.Errorf("pinned(%q) = %v, want %v", tt.ref, got, tt.pinned)
		}
	}
}

// ---------------------------------------------------------------- the checks

type check struct {
	name string
	run  func(*stack) []error
}

var checks = []check{
	{"compose runs every process on its port", checkComposeProcesses},
	{"k8s runs every process on its port with probes", checkK8sProcesses},
	{"Dockerfile builds every binary", checkDockerfile},
	{"URLs point at the right process and port", checkURLs},
	{"variables are ones the code reads", checkEnvNames},
	{"envFrom names existing ConfigMaps and Secrets", checkEnvRefs},
	{"images are pinned", checkPinnedImages},
	{"stripe-mock image matches tools/go.mod", checkStripeMock},
	{"postgres major version matches the dev server", checkPostgresVersion},
	{"replicas, disruption budgets and resources", checkCapacity},
	{"kustomization lists every manifest", checkKustomization},
	{"collector config is the same everywhere", checkCollector},
	{"every object is in the namespace", checkNamespaces},
	{"Redis has a password and every Redis URL carries it", checkRedisAuth},
}

func runChecks(st *stack) []error {
	var errs []error
	for _, c := range checks {
		errs = append(errs, c.run(st)...)
	}
	return errs
}

func checkComposeProcesses(st *stack) []error {
	var errs []error
	for _, p := range processes {
		where := fmt.Sprintf("%s: service %s", composePath, p.name)
		svc, ok := st.compose.Services[p.name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: missing", where))
			continue
		}
		errs = append(errs, checkComposeBuild(where, svc, p)...)
		if port, err := addrPort(svc.Environment[config.EnvHTTPAddr]); err != nil || port != p.port {
			errs = append(errs, fmt.Errorf("%s: %s = %q, want port %d (platform/config)",
				where, config.EnvHTTPAddr, svc.Environment[config.EnvHTTPAddr], p.port))
		}
		exposed, published, err := svc.containerPorts()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", where, err))
			continue
		}
		if !slices.Contains(exposed, p.port) {
			errs = append(errs, fmt.Errorf("%s: does not expose port %d (has %v)", where, p.port, exposed))
		}
		if p.public && published[p.port] != p.port {
			errs = append(errs, fmt.Errorf("%s: container port %d is not published on host port %d", where, p.port, p.port))
		}
	}
	for _, tool := range tools {
		svc, ok := st.compose.Services[tool.name]
		if !ok {
			continue // a tool in compose is a convenience, not a requirement
		}
		errs = append(errs, checkComposeBuild(fmt.Sprintf("%s: service %s", composePath, tool.name), svc, tool)...)
	}
	// Every service built from the Dockerfile must be one the table above knows.
	for _, name := range sortedKeys(st.compose.Services) {
		svc := st.compose.Services[name]
		if svc.Build == nil && !strings.HasPrefix(svc.Image, imagePrefix) {
			continue
		}
		if _, ok := lookup(name); !ok {
			errs = append(errs, fmt.Errorf("%s: service %s builds an Atrium image but is no known process or tool", composePath, name))
		}
	}
	return errs
}

func checkComposeBuild(where string, svc composeService, p process) []error {
	var errs []error
	if svc.Build == nil {
		errs = append(errs, fmt.Errorf("%s: no build section", where))
	} else {
		if path.Clean(svc.Build.Dockerfile) != dockerfilePath {
			errs = append(errs, fmt.Errorf("%s: build.dockerfile = %q, want %s", where, svc.Build.Dockerfile, dockerfilePath))
		}
		if got := svc.Build.Args["BIN"]; got != p.bin {
			errs = append(errs, fmt.Errorf("%s: build arg BIN = %q, want %q", where, got, p.bin))
		}
	}
	if repo, _, _ := splitImage(svc.Image); repo != imagePrefix+p.bin {
		errs = append(errs, fmt.Errorf("%s: image %q, want %s%s:<version>", where, svc.Image, imagePrefix, p.bin))
	}
	return errs
}

func checkK8sProcesses(st *stack) []error {
	var errs []error
	for _, p := range processes {
		dep, ok := st.find("Deployment", p.name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no Deployment %s", k8sDir, p.name))
			continue
		}
		where := fmt.Sprintf("%s: Deployment %s", dep.file, p.name)
		var spec deploymentSpec
		if err := dep.Spec.Decode(&spec); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", where, err))
			continue
		}
		c, ok := spec.container(imagePrefix + p.bin)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no container running image %s%s", where, imagePrefix, p.bin))
			continue
		}
		where += " container " + c.Name
		if port, ok := c.namedPort("http"); !ok || port != p.port {
			errs = append(errs, fmt.Errorf("%s: containerPort named http = %d, want %d (platform/config)", where, port, p.port))
		}
		addr, _ := c.envValue(config.EnvHTTPAddr)
		if port, err := addrPort(addr); err != nil || port != p.port {
			errs = append(errs, fmt.Errorf("%s: %s = %q, want port %d", where, config.EnvHTTPAddr, addr, p.port))
		}
		mport := p.port
		if p.metricsPort != 0 {
			mport = p.metricsPort
		}
		if v, ok := spec.Template.Metadata.Annotations["prometheus.io/port"]; ok && v != strconv.Itoa(mport) {
			errs = append(errs, fmt.Errorf("%s: prometheus.io/port = %q, want %d", where, v, mport))
		}
		probes := []struct {
			kind     string
			probe    *probe
			path     string
			required bool
		}{
			{"readinessProbe", c.ReadinessProbe, "/readyz", true},
			{"livenessProbe", c.LivenessProbe, "/healthz", true},
			{"startupProbe", c.StartupProbe, "/healthz", false},
		}
		for _, pr := range probes {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				if pr.required {
					errs = append(errs, fmt.Errorf("%s: no %s with httpGet %s", where, pr.kind, pr.path))
				}
				continue
			}
			if pr.probe.HTTPGet.Path != pr.path {
				errs = append(errs, fmt.Errorf("%s: %s path %q, want %s", where, pr.kind, pr.probe.HTTPGet.Path, pr.path))
			}
			if port, ok := c.resolvePort(pr.probe.HTTPGet.Port); !ok || port != p.port {
				errs = append(errs, fmt.Errorf("%s: %s port %q, want the process port %d", where, pr.kind, pr.probe.HTTPGet.Port, p.port))
			}
		}

		svcObj, ok := st.find("Service", p.name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no Service %s", k8sDir, p.name))
			continue
		}
		where = fmt.Sprintf("%s: Service %s", svcObj.file, p.name)
		var svc serviceSpec
		if err := svcObj.Spec.Decode(&svc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", where, err))
			continue
		}
		if len(svc.Selector) == 0 || !subset(svc.Selector, spec.Template.Metadata.Labels) {
			errs = append(errs, fmt.Errorf("%s: selector %v does not select the pods of Deployment %s (labels %v)",
				where, svc.Selector, p.name, spec.Template.Metadata.Labels))
		}
		found := false
		for _, sp := range svc.Ports {
			target, ok := c.resolvePort(sp.TargetPort)
			if sp.TargetPort == "" {
				target, ok = sp.Port, true
			}
			if sp.Port == p.port && ok && target == p.port {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s: no port %d reaching container port %d", where, p.port, p.port))
		}
	}
	// Every Deployment of an Atrium image must be a known process.
	for _, o := range st.objects {
		if o.Kind != "Deployment" {
			continue
		}
		var spec deploymentSpec
		if err := o.Spec.Decode(&spec); err != nil {
			errs = append(errs, fmt.Errorf("%s: Deployment %s: %v", o.file, o.Metadata.Name, err))
			continue
		}
		for _, c := range spec.Template.Spec.Containers {
			if strings.HasPrefix(c.Image, imagePrefix) {
				if p, ok := lookup(o.Metadata.Name); !ok || p.port == 0 {
					errs = append(errs, fmt.Errorf("%s: Deployment %s runs %s but is no known process", o.file, o.Metadata.Name, c.Image))
				}
			}
		}
	}
	return errs
}

func checkDockerfile(st *stack) []error {
	var errs []error
	df := st.dockerfile
	for _, p := range append(slices.Clone(processes), tools...) {
		want := "./" + p.module + "/cmd/" + p.bin
		got, ok := df.bins[p.bin]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: BIN %s is not built", dockerfilePath, p.bin))
		case path.Clean(got) != path.Clean(want):
			errs = append(errs, fmt.Errorf("%s: BIN %s builds %s, want %s (docs/ARCHITECTURE.md: <module>/cmd/<name>)", dockerfilePath, p.bin, got, want))
		}
		if !slices.Contains(st.workModules, p.module) {
			errs = append(errs, fmt.Errorf("%s: module %s of %s is not in go.work", dockerfilePath, p.module, p.bin))
		}
	}
	for bin := range df.bins {
		if _, ok := lookupBin(bin); !ok {
			errs = append(errs, fmt.Errorf("%s: builds BIN %s, which is no known process or tool", dockerfilePath, bin))
		}
	}
	if df.user == "" || df.user == "root" || df.user == "0" || strings.HasPrefix(df.user, "0:") || strings.HasPrefix(df.user, "root:") {
		errs = append(errs, fmt.Errorf("%s: the final stage must set a non-root USER (got %q)", dockerfilePath, df.user))
	}
	return errs
}

func checkURLs(st *stack) []error {
	var errs []error
	collectorPort, err := st.collectorOTLPHTTPPort()
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %v", collectorPath, err))
	}
	dbPort, _ := urlPort(config.DefaultDatabaseURL)
	redisPort, _ := urlPort(config.DefaultRedisURL)

	// docker-compose.yml: hosts are compose services.
	for _, name := range sortedKeys(st.compose.Services) {
		svc := st.compose.Services[name]
		where := fmt.Sprintf("%s: service %s", composePath, name)
		env := svc.Environment
		for _, v := range sortedKeys(env) {
			val := interpolate(env[v])
			switch {
			case urlTargets[v] != "":
				errs = append(errs, checkProcessURL(where, v, val, urlTargets[v], func(host string) bool { return host == urlTargets[v] })...)
			case v == config.EnvDatabaseURL:
				errs = append(errs, checkDependencyURL(where, v, val, dbPort, st.compose.hasService)...)
			case v == config.EnvRedisURL:
				errs = append(errs, checkDependencyURL(where, v, val, redisPort, st.compose.hasService)...)
			case v == config.EnvShards:
				for _, dsn := range shardDSNs(val) {
					errs = append(errs, checkDependencyURL(where, v, dsn, dbPort, st.compose.hasService)...)
				}
			case v == config.EnvOTLPEndpoint && val != "":
				errs = append(errs, checkDependencyURL(where, v, val, collectorPort, st.compose.hasService)...)
			}
		}
	}

	// Kubernetes: hosts are Services (short name or name.namespace...).
	for _, e := range st.k8sEnv() {
		where := e.where
		switch {
		case urlTargets[e.name] != "":
			target := urlTargets[e.name]
			errs = append(errs, checkProcessURL(where, e.name, e.value, target, func(host string) bool { return serviceHost(host) == target })...)
		case e.name == config.EnvDatabaseURL:
			// The database is a CloudNativePG cluster: its read-write Service is <cluster>-rw.
			isCluster := func(host string) bool {
				name, ok := strings.CutSuffix(serviceHost(host), "-rw")
				_, found := st.find("Cluster", name)
				return ok && found
			}
			errs = append(errs, checkDependencyURL(where, e.name, e.value, dbPort, isCluster)...)
		case e.name == config.EnvOTLPEndpoint && e.value != "":
			isService := func(host string) bool {
				o, ok := st.find("Service", serviceHost(host))
				return ok && o.servicePorts()[collectorPort]
			}
			errs = append(errs, checkDependencyURL(where, e.name, e.value, collectorPort, isService)...)
		}
	}
	return errs
}

func checkProcessURL(where, name, val, target string, hostOK func(string) bool) []error {
	p, _ := lookup(target)
	u, err := url.Parse(val)
	if err != nil || u.Hostname() == "" {
		return []error{fmt.Errorf("%s: %s = %q is not a URL", where, name, val)}
	}
	port, _ := strconv.Atoi(u.Port())
	if !hostOK(u.Hostname()) || port != p.port {
		return []error{fmt.Errorf("%s: %s = %q, want process %s on port %d", where, name, val, target, p.port)}
	}
	return nil
}

func checkDependencyURL(where, name, val string, wantPort int, hostOK func(string) bool) []error {
	u, err := url.Parse(val)
	if err != nil || u.Hostname() == "" {
		return []error{fmt.Errorf("%s: %s = %q is not a URL", where, name, val)}
	}
	port, _ := strconv.Atoi(u.Port())
	if !hostOK(u.Hostname()) {
		return []error{fmt.Errorf("%s: %s = %q names host %q, which these manifests do not define", where, name, val, u.Hostname())}
	}
	if port != wantPort {
		return []error{fmt.Errorf("%s: %s = %q, want port %d", where, name, val, wantPort)}
	}
	return nil
}

func checkEnvNames(st *stack) []error {
	known := knownEnv()
	var errs []error
	unknown := func(where, name string) {
		if !known[name] {
			errs = append(errs, fmt.Errorf("%s: sets %s, which no Atrium code reads (platform/config.KnownEnv)", where, name))
		}
	}
	for _, name := range sortedKeys(st.compose.Services) {
		svc := st.compose.Services[name]
		if _, ok := lookup(name); !ok {
			continue // Postgres, Redis and friends have their own variables
		}
		for _, v := range sortedKeys(svc.Environment) {
			unknown(fmt.Sprintf("%s: service %s", composePath, name), v)
		}
	}
	for _, e := range st.k8sEnv() {
		unknown(e.where, e.name)
	}
	return errs
}

// checkRedisAuth: compose's Redis runs with --requirepass, its health check authenticates
// with the same password, and every ATRIUM_REDIS_URL carries it; in Kubernetes the URL has a
// password and is in a Secret, not the ConfigMap. Values are never echoed.
func checkRedisAuth(st *stack) []error {
	var errs []error
	password := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			return ""
		}
		p, _ := u.User.Password()
		return p
	}
	want := ""
	if svc, ok := st.compose.Services["redis"]; !ok {
		errs = append(errs, fmt.Errorf("%s: no service redis", composePath))
	} else {
		where := composePath + ": service redis"
		if i := slices.Index(svc.Command, "--requirepass"); i < 0 || i+1 >= len(svc.Command) || interpolate(svc.Command[i+1]) == "" {
			errs = append(errs, fmt.Errorf("%s: command runs redis-server without --requirepass", where))
		} else {
			want = interpolate(svc.Command[i+1])
		}
		if interpolate(svc.Environment["REDISCLI_AUTH"]) != want {
			errs = append(errs, fmt.Errorf("%s: REDISCLI_AUTH (the health check's password) is not the --requirepass password", where))
		}
	}
	for _, name := range sortedKeys(st.compose.Services) {
		raw, ok := st.compose.Services[name].Environment[config.EnvRedisURL]
		if !ok {
			continue
		}
		if p := password(interpolate(raw)); p == "" {
			errs = append(errs, fmt.Errorf("%s: service %s: %s has no password", composePath, name, config.EnvRedisURL))
		} else if want != "" && p != want {
			errs = append(errs, fmt.Errorf("%s: service %s: the password in %s is not the redis service's --requirepass", composePath, name, config.EnvRedisURL))
		}
	}
	found := false
	for _, e := range st.k8sEnv() {
		if e.name != config.EnvRedisURL {
			continue
		}
		found = true
		if strings.Contains(e.where, ": ConfigMap ") {
			errs = append(errs, fmt.Errorf("%s: %s is in a ConfigMap; it carries the password: put it in the Secret", e.where, e.name))
		}
		if password(e.value) == "" {
			errs = append(errs, fmt.Errorf("%s: %s has no password", e.where, e.name))
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("%s: no process gets %s", k8sDir, config.EnvRedisURL))
	}
	return errs
}

func checkEnvRefs(st *stack) []error {
	var errs []error
	for _, d := range st.atriumContainers() {
		for _, ef := range d.c.EnvFrom {
			if ef.ConfigMapRef != nil {
				if _, ok := st.find("ConfigMap", ef.ConfigMapRef.Name); !ok {
					errs = append(errs, fmt.Errorf("%s: envFrom ConfigMap %s is not defined", d.where, ef.ConfigMapRef.Name))
				}
			}
			if ef.SecretRef != nil {
				if _, ok := st.find("Secret", ef.SecretRef.Name); !ok {
					errs = append(errs, fmt.Errorf("%s: envFrom Secret %s is not defined", d.where, ef.SecretRef.Name))
				}
			}
		}
	}
	return errs
}

func checkPinnedImages(st *stack) []error {
	var errs []error
	for _, img := range st.images {
		if err := pinnedError(img.ref); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", img.where, err))
		}
	}
	if len(st.images) == 0 {
		errs = append(errs, errors.New("found no images at all"))
	}
	return errs
}

func checkStripeMock(st *stack) []error {
	if st.stripeMock == "" {
		return []error{fmt.Errorf("%s: does not pin %s", toolsModPath, stripeMockModule)}
	}
	var errs []error
	found := false
	for _, img := range st.images {
		repo, tag, _ := splitImage(img.ref)
		if repo != stripeMockImage {
			continue
		}
		found = true
		if tag != st.stripeMock {
			errs = append(errs, fmt.Errorf("%s: %s, but %s pins %s %s", img.where, img.ref, toolsModPath, stripeMockModule, st.stripeMock))
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("%s: no %s service", composePath, stripeMockImage))
	}
	return errs
}

func checkPostgresVersion(st *stack) []error {
	var errs []error
	found := 0
	for _, img := range st.images {
		repo, tag, _ := splitImage(img.ref)
		if repo != "postgres" && !strings.HasSuffix(repo, "/postgresql") {
			continue
		}
		found++
		if major, _, _ := strings.Cut(tag, "."); major != devPostgresMajor {
			errs = append(errs, fmt.Errorf("%s: %s is Postgres major %s, the dev server is %s", img.where, img.ref, major, devPostgresMajor))
		}
	}
	if found < 2 {
		errs = append(errs, fmt.Errorf("want a Postgres image in %s and in %s, found %d", composePath, k8sDir, found))
	}
	return errs
}

func checkCapacity(st *stack) []error {
	var errs []error
	replicas := map[string]int{}
	for _, o := range st.objects {
		if o.Kind != "Deployment" {
			continue
		}
		var spec deploymentSpec
		if err := o.Spec.Decode(&spec); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", o.file, err))
			continue
		}
		n := 1
		if spec.Replicas != nil {
			n = *spec.Replicas
		}
		replicas[o.Metadata.Name] = n
		for _, c := range append(spec.Template.Spec.InitContainers, spec.Template.Spec.Containers...) {
			for _, want := range []struct {
				kind string
				m    map[string]string
				key  string
			}{
				{"requests", c.Resources.Requests, "cpu"},
				{"requests", c.Resources.Requests, "memory"},
				{"limits", c.Resources.Limits, "memory"},
			} {
				if want.m[want.key] == "" {
					errs = append(errs, fmt.Errorf("%s: Deployment %s container %s: no resources.%s.%s", o.file, o.Metadata.Name, c.Name, want.kind, want.key))
				}
			}
		}
	}
	if n := replicas["gateway"]; n < 2 {
		errs = append(errs, fmt.Errorf("%s: gateway has %d replicas, want at least 2 (the one public entry point)", k8sDir, n))
	}
	for _, o := range st.objects {
		if o.Kind != "PodDisruptionBudget" {
			continue
		}
		var spec struct {
			MinAvailable *string `yaml:"minAvailable"`
			Selector     struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		}
		if err := o.Spec.Decode(&spec); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", o.file, err))
			continue
		}
		name := spec.Selector.MatchLabels["app.kubernetes.io/name"]
		n, ok := replicas[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: PodDisruptionBudget %s selects no Deployment", o.file, o.Metadata.Name))
			continue
		}
		if spec.MinAvailable == nil {
			continue
		}
		// A budget that needs every replica up blocks every node drain.
		if m, err := strconv.Atoi(*spec.MinAvailable); err == nil && m >= n {
			errs = append(errs, fmt.Errorf("%s: PodDisruptionBudget %s minAvailable %d with %d replicas blocks every drain", o.file, o.Metadata.Name, m, n))
		}
	}
	return errs
}

func checkKustomization(st *stack) []error {
	var errs []error
	listed := map[string]bool{}
	for _, r := range st.kustomize.Resources {
		listed[path.Clean(r)] = true
		if !slices.Contains(st.k8sFiles, path.Clean(r)) {
			errs = append(errs, fmt.Errorf("%s: lists %s, which does not exist", kustomizePath, r))
		}
	}
	for _, f := range st.k8sFiles {
		if !listed[f] {
			errs = append(errs, fmt.Errorf("%s: does not list %s", kustomizePath, f))
		}
	}
	if ns, ok := st.namespace(); ok && st.kustomize.Namespace != "" && st.kustomize.Namespace != ns {
		errs = append(errs, fmt.Errorf("%s: namespace %s, the Namespace manifest is %s", kustomizePath, st.kustomize.Namespace, ns))
	}
	return errs
}

func checkCollector(st *stack) []error {
	var errs []error
	cm, ok := st.find("ConfigMap", collectorConfig)
	if !ok {
		return []error{fmt.Errorf("%s: no ConfigMap %s with the collector config", k8sDir, collectorConfig)}
	}
	var inK8s any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &inK8s); err != nil || inK8s == nil {
		errs = append(errs, fmt.Errorf("%s: ConfigMap %s: config.yaml is not YAML: %v", cm.file, collectorConfig, err))
	} else if !reflect.DeepEqual(inK8s, st.collector) {
		errs = append(errs, fmt.Errorf("%s: ConfigMap %s config.yaml differs from %s: keep them identical", cm.file, collectorConfig, collectorPath))
	}
	// compose must mount the same file into its collector.
	found := false
	for _, name := range sortedKeys(st.compose.Services) {
		svc := st.compose.Services[name]
		if repo, _, _ := splitImage(svc.Image); repo != collectorImage {
			continue
		}
		found = true
		mounted := slices.ContainsFunc(svc.Volumes, func(v string) bool {
			src, _, _ := strings.Cut(v, ":")
			return path.Clean(src) == collectorPath
		})
		if !mounted {
			errs = append(errs, fmt.Errorf("%s: service %s does not mount ./%s", composePath, name, collectorPath))
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("%s: no %s service", composePath, collectorImage))
	}
	return errs
}

func checkNamespaces(st *stack) []error {
	ns, ok := st.namespace()
	if !ok {
		return []error{fmt.Errorf("%s: want exactly one Namespace", k8sDir)}
	}
	var errs []error
	for _, o := range st.objects {
		if o.Kind == "Namespace" {
			continue
		}
		if o.Metadata.Namespace != ns {
			errs = append(errs, fmt.Errorf("%s: %s %s is in namespace %q, want %q", o.file, o.Kind, o.Metadata.Name, o.Metadata.Namespace, ns))
		}
	}
	return errs
}

// ---------------------------------------------------------------- loading

// stack is every deployment description, parsed.
type stack struct {
	root        string
	compose     composeFile
	objects     []object // every document of infra/k8s/*.yaml but kustomization.yaml
	k8sFiles    []string // their file names, relative to infra/k8s
	kustomize   kustomization
	dockerfile  dockerfile
	collector   any    // infra/otel-collector.yaml
	stripeMock  string // the version tools/go.mod pins
	workModules []string
	images      []image
}

type image struct {
	where string
	ref   string
}

func loadRepo(t *testing.T) *stack {
	t.Helper()
	root := repoRoot(t)
	files, err := readFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := parse(root, files)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// repoRoot is the directory holding go.work, above the test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, goWorkPath)); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test directory")
		}
		dir = parent
	}
}

// readFiles reads every file the checks look at, keyed by slash path from the root.
func readFiles(root string) (map[string][]byte, error) {
	paths := []string{composePath, dockerfilePath, collectorPath, toolsModPath, goWorkPath}
	manifests, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(k8sDir), "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(manifests) == 0 {
		return nil, fmt.Errorf("no manifests in %s", k8sDir)
	}
	for _, m := range manifests {
		paths = append(paths, k8sDir+"/"+filepath.Base(m))
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		files[p] = b
	}
	return files, nil
}

func parse(root string, files map[string][]byte) (*stack, error) {
	st := &stack{root: root}

	var composeDoc yaml.Node
	if err := yaml.Unmarshal(files[composePath], &composeDoc); err != nil {
		return nil, fmt.Errorf("%s: %w", composePath, err)
	}
	if err := composeDoc.Decode(&st.compose); err != nil {
		return nil, fmt.Errorf("%s: %w", composePath, err)
	}
	for _, name := range sortedKeys(st.compose.Services) {
		if img := st.compose.Services[name].Image; img != "" {
			st.images = append(st.images, image{fmt.Sprintf("%s: service %s", composePath, name), img})
		}
	}

	for _, name := range sortedKeys(files) {
		dir, base := path.Split(name)
		if path.Clean(dir) != k8sDir {
			continue
		}
		if name == kustomizePath {
			if err := yaml.Unmarshal(files[name], &st.kustomize); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		st.k8sFiles = append(st.k8sFiles, base)
		objs, err := parseManifests(name, files[name])
		if err != nil {
			return nil, err
		}
		st.objects = append(st.objects, objs...)
		for _, o := range objs {
			for _, ref := range findImages(&o.Spec) {
				st.images = append(st.images, image{fmt.Sprintf("%s: %s %s", name, o.Kind, o.Metadata.Name), ref})
			}
		}
	}

	df, err := parseDockerfile(files[dockerfilePath])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dockerfilePath, err)
	}
	st.dockerfile = df
	for _, ref := range df.bases {
		st.images = append(st.images, image{dockerfilePath + ": FROM", ref})
	}

	if err := yaml.Unmarshal(files[collectorPath], &st.collector); err != nil {
		return nil, fmt.Errorf("%s: %w", collectorPath, err)
	}
	if st.collector == nil {
		return nil, fmt.Errorf("%s: empty", collectorPath)
	}
	st.stripeMock = requiredVersion(files[toolsModPath], stripeMockModule)
	st.workModules = workModules(files[goWorkPath])
	return st, nil
}

// ---------------------------------------------------------------- compose

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

func (f composeFile) hasService(name string) bool {
	_, ok := f.Services[name]
	return ok
}

type composeService struct {
	Image       string        `yaml:"image"`
	Command     commandLine   `yaml:"command"`
	Build       *composeBuild `yaml:"build"`
	Environment envMap        `yaml:"environment"`
	Ports       []string      `yaml:"ports"`
	Expose      []string      `yaml:"expose"`
	Volumes     []string      `yaml:"volumes"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

// commandLine is a compose command in either of its forms: a list, or one string split at
// spaces.
type commandLine []string

func (c *commandLine) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*c = strings.Fields(n.Value)
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*c = l
	return nil
}

// envMap is a compose environment in either of its forms: a mapping, or a list of
// NAME=value strings.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	m := map[string]string{}
	switch n.Kind {
	case yaml.MappingNode:
		if err := n.Decode(&m); err != nil {
			return err
		}
	case yaml.SequenceNode:
		var items []string
		if err := n.Decode(&items); err != nil {
			return err
		}
		for _, item := range items {
			name, value, _ := strings.Cut(item, "=")
			m[name] = value
		}
	default:
		return fmt.Errorf("line %d: environment must be a mapping or a list", n.Line)
	}
	*e = m
	return nil
}

// containerPorts returns the container ports a service exposes or publishes, and for the
// published ones the host port each is published on. Short syntax only
// ("[ip:]host:container[/proto]").
func (s composeService) containerPorts() (exposed []int, published map[int]int, err error) {
	published = map[int]int{}
	for _, e := range s.Expose {
		p, err := strconv.Atoi(strings.Split(e, "/")[0])
		if err != nil {
			return nil, nil, fmt.Errorf("expose %q: %v", e, err)
		}
		exposed = append(exposed, p)
	}
	for _, spec := range s.Ports {
		parts := strings.Split(strings.Split(spec, "/")[0], ":")
		container, err := strconv.Atoi(parts[len(parts)-1])
		if err != nil {
			return nil, nil, fmt.Errorf("ports %q: %v", spec, err)
		}
		exposed = append(exposed, container)
		if len(parts) >= 2 {
			host, err := strconv.Atoi(parts[len(parts)-2])
			if err != nil {
				return nil, nil, fmt.Errorf("ports %q: %v", spec, err)
			}
			published[container] = host
		}
	}
	return exposed, published, nil
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}`)

// interpolate resolves compose's ${NAME:-default} to its default, as on a host without
// the variable set.
func interpolate(s string) string {
	return interpolation.ReplaceAllString(s, "$2")
}

// ---------------------------------------------------------------- Kubernetes

type object struct {
	file       string
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   metadata          `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
}

type metadata struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func parseManifests(name string, b []byte) ([]object, error) {
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
			continue // an empty document, e.g. after a trailing ---
		}
		var o object
		if err := doc.Decode(&o); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
			return nil, fmt.Errorf("%s: line %d: a manifest needs apiVersion, kind and metadata.name", name, doc.Line)
		}
		o.file = name
		objs = append(objs, o)
	}
	return objs, nil
}

type kustomization struct {
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
}

type deploymentSpec struct {
	Replicas *int `yaml:"replicas"`
	Template struct {
		Metadata metadata `yaml:"metadata"`
		Spec     struct {
			Containers     []container `yaml:"containers"`
			InitContainers []container `yaml:"initContainers"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

func (d deploymentSpec) container(repo string) (container, bool) {
	for _, c := range d.Template.Spec.Containers {
		if r, _, _ := splitImage(c.Image); r == repo {
			return c, true
		}
	}
	return container{}, false
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

func (c container) namedPort(name string) (int, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// resolvePort turns a port reference (a number or the name of a container port) into a
// container port number.
func (c container) resolvePort(ref string) (int, bool) {
	if n, err := strconv.Atoi(ref); err == nil {
		return n, true
	}
	return c.namedPort(ref)
}

func (c container) envValue(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort string `yaml:"targetPort"` // a number or a container port name
	} `yaml:"ports"`
}

func (o object) servicePorts() map[int]bool {
	var spec serviceSpec
	ports := map[int]bool{}
	if o.Spec.Decode(&spec) == nil {
		for _, p := range spec.Ports {
			ports[p.Port] = true
		}
	}
	return ports
}

func (st *stack) find(kind, name string) (object, bool) {
	for _, o := range st.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			return o, true
		}
	}
	return object{}, false
}

func (st *stack) namespace() (string, bool) {
	var names []string
	for _, o := range st.objects {
		if o.Kind == "Namespace" {
			names = append(names, o.Metadata.Name)
		}
	}
	if len(names) != 1 {
		return "", false
	}
	return names[0], true
}

type containerAt struct {
	where string
	c     container
}

// atriumContainers returns the containers running an Atrium image, in every Deployment.
func (st *stack) atriumContainers() []containerAt {
	var out []containerAt
	for _, o := range st.objects {
		if o.Kind != "Deployment" {
			continue
		}
		var spec deploymentSpec
		if o.Spec.Decode(&spec) != nil {
			continue // reported by the checks that need the spec
		}
		for _, c := range spec.Template.Spec.Containers {
			if strings.HasPrefix(c.Image, imagePrefix) {
				out = append(out, containerAt{fmt.Sprintf("%s: Deployment %s container %s", o.file, o.Metadata.Name, c.Name), c})
			}
		}
	}
	return out
}

type envVar struct {
	where, name, value string
}

// k8sEnv returns every variable the manifests give an Atrium process: the keys of the
// ConfigMaps and Secrets its containers take with envFrom, and their env entries.
func (st *stack) k8sEnv() []envVar {
	var out []envVar
	seen := map[string]bool{}
	for _, d := range st.atriumContainers() {
		for _, e := range d.c.Env {
			out = append(out, envVar{d.where, e.Name, e.Value})
		}
		for _, ef := range d.c.EnvFrom {
			var o object
			var ok bool
			switch {
			case ef.ConfigMapRef != nil:
				o, ok = st.find("ConfigMap", ef.ConfigMapRef.Name)
			case ef.SecretRef != nil:
				o, ok = st.find("Secret", ef.SecretRef.Name)
			}
			key := o.Kind + "/" + o.Metadata.Name
			if !ok || seen[key] {
				continue
			}
			seen[key] = true
			where := fmt.Sprintf("%s: %s %s", o.file, o.Kind, o.Metadata.Name)
			for _, name := range sortedKeys(o.Data) {
				v := o.Data[name]
				if o.Kind == "Secret" { // a Secret's data is base64, its stringData plain
					if b, err := base64.StdEncoding.DecodeString(v); err == nil {
						v = string(b)
					}
				}
				out = append(out, envVar{where, name, v})
			}
			for _, name := range sortedKeys(o.StringData) {
				out = append(out, envVar{where, name, o.StringData[name]})
			}
		}
	}
	return out
}

// serviceHost returns the Service name in a cluster host name: "tenancy",
// "tenancy.atrium" and "tenancy.atrium.svc.cluster.local" all name Service tenancy.
func serviceHost(host string) string {
	name, _, _ := strings.Cut(host, ".")
	return name
}

// findImages returns every value of an "image" or "imageName" key under n.
func findImages(n *yaml.Node) []string {
	var out []string
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if (k.Value == "image" || k.Value == "imageName") && v.Kind == yaml.ScalarNode {
				out = append(out, v.Value)
				continue
			}
			out = append(out, findImages(v)...)
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			out = append(out, findImages(c)...)
		}
	}
	return out
}

// ---------------------------------------------------------------- collector

func (st *stack) collectorOTLPHTTPPort() (int, error) {
	var cfg struct {
		Receivers struct {
			OTLP struct {
				Protocols struct {
					HTTP struct {
						Endpoint string `yaml:"endpoint"`
					} `yaml:"http"`
				} `yaml:"protocols"`
			} `yaml:"otlp"`
		} `yaml:"receivers"`
	}
	b, err := yaml.Marshal(st.collector)
	if err != nil {
		return 0, err
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return 0, err
	}
	port, err := addrPort(cfg.Receivers.OTLP.Protocols.HTTP.Endpoint)
	if err != nil {
		return 0, fmt.Errorf("receivers.otlp.protocols.http.endpoint: %v", err)
	}
	return port, nil
}

// ---------------------------------------------------------------- Dockerfile, go.mod, go.work

type dockerfile struct {
	bases []string          // FROM images, ARGs resolved, stage references left out
	bins  map[string]string // BIN value -> main package
	user  string            // the last USER
}

var (
	binCase = regexp.MustCompile(`^\s*([a-z][a-z0-9-]*)\)\s*pkg=(\S+?)\s*;;`)
	argRef  = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)
)

func parseDockerfile(b []byte) (dockerfile, error) {
	df := dockerfile{bins: map[string]string{}}
	args := map[string]string{}
	stages := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := binCase.FindStringSubmatch(line); m != nil {
			df.bins[m[1]] = m[2]
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			if name, def, ok := strings.Cut(fields[1], "="); ok {
				args[name] = def
			}
		case "FROM":
			ref := fields[1]
			if strings.HasPrefix(ref, "--") && len(fields) > 2 { // --platform=...
				ref = fields[2]
			}
			ref = argRef.ReplaceAllStringFunc(ref, func(s string) string {
				return args[argRef.FindStringSubmatch(s)[1]]
			})
			// "FROM build" starts from an earlier stage, not from an image.
			if !stages[ref] && ref != "scratch" {
				df.bases = append(df.bases, ref)
			}
			if i := slices.IndexFunc(fields, func(f string) bool { return strings.EqualFold(f, "AS") }); i > 0 && i+1 < len(fields) {
				stages[fields[i+1]] = true
			}
		case "USER":
			df.user = fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		return df, err
	}
	if len(df.bases) == 0 {
		return df, errors.New("no FROM")
	}
	return df, nil
}

// requiredVersion returns the version go.mod requires of module, from either
// "require module v" or a line "module v" in a require block.
func requiredVersion(gomod []byte, module string) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "require" && f[1] == module {
			return f[2]
		}
		if len(f) >= 2 && f[0] == module && strings.HasPrefix(f[1], "v") {
			return f[1]
		}
	}
	return ""
}

// workModules returns the module directories go.work uses, without "./".
func workModules(gowork []byte) []string {
	var mods []string
	for _, line := range strings.Split(string(gowork), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "use"))
		if len(f) == 1 && strings.HasPrefix(f[0], "./") {
			mods = append(mods, path.Clean(f[0]))
		}
	}
	return mods
}

// ---------------------------------------------------------------- small helpers

func lookup(name string) (process, bool) {
	for _, p := range append(slices.Clone(processes), tools...) {
		if p.name == name {
			return p, true
		}
	}
	return process{}, false
}

func lookupBin(bin string) (process, bool) {
	for _, p := range append(slices.Clone(processes), tools...) {
		if p.bin == bin {
			return p, true
		}
	}
	return process{}, false
}

// splitImage splits an image reference into repository, tag and digest.
func splitImage(ref string) (repo, tag, digest string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:], digest
	}
	return ref, "", digest
}

// pinnedError reports an image that does not name one release: no tag, "latest", or a tag
// left to a variable.
func pinnedError(ref string) error {
	_, tag, digest := splitImage(ref)
	switch {
	case digest != "":
		return nil
	case tag == "":
		return fmt.Errorf("image %q is not pinned: give it a version tag", ref)
	case tag == "latest":
		return fmt.Errorf("image %q: latest is not a pin, give it a version tag", ref)
	case strings.Contains(tag, "$"):
		return fmt.Errorf("image %q is not pinned: its tag is a variable", ref)
	}
	return nil
}

// addrPort returns the port of a listen address such as ":8081" or "0.0.0.0:8081".
func addrPort(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

func urlPort(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Port())
}

// shardDSNs returns the DSNs of ATRIUM_SHARDS ("name=dsn;name2=dsn2").
func shardDSNs(v string) []string {
	var out []string
	for _, shard := range strings.Split(v, ";") {
		if _, dsn, ok := strings.Cut(shard, "="); ok {
			out = append(out, dsn)
		}
	}
	return out
}

func subset(sub, super map[string]string) bool {
	for k, v := range sub {
		if super[k] != v {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
