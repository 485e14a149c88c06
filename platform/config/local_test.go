package config

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestReadPorts(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Ports
	}{
		{"defaults", nil, Ports{8080, 8081, 8082, 8083, 8084, 8085, 2525, 12111, 12112, 5173}},
		{"offset", map[string]string{EnvPortOffset: "100"}, Ports{8180, 8181, 8182, 8183, 8184, 8185, 2625, 12211, 12212, 5273}},
		{"own variable beats offset", map[string]string{EnvPortOffset: "100", EnvCatalogPort: "9000"},
			Ports{8180, 8181, 9000, 8183, 8184, 8185, 2625, 12211, 12212, 5273}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := FromMap(tt.env)
			if got := ReadPorts(env); got != tt.want {
				t.Errorf("ReadPorts = %+v, want %+v", got, tt.want)
			}
			if err := env.Err(); err != nil {
				t.Error(err)
			}
		})
	}
	for _, bad := range []map[string]string{{EnvPortOffset: "-1"}, {EnvGatewayPort: "70000"}, {EnvTenancyPort: "x"}} {
		env := FromMap(bad)
		ReadPorts(env)
		if env.Err() == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestReadLocal(t *testing.T) {
	l := ReadLocal(FromMap(map[string]string{EnvPGPort: "5433", EnvRedisPort: "6380", EnvPortOffset: "10"}))
	if l.DatabaseURL != "postgres://postgres@127.0.0.1:5433/atrium?sslmode=disable" || l.RedisURL != "redis://127.0.0.1:6380/0" ||
		l.Shards[DefaultShardName] != l.DatabaseURL || l.WebOrigin != "http://localhost:8090" || l.ContextName != "local" {
		t.Errorf("ReadLocal = %+v", l)
	}
	if d := ReadLocal(FromMap(nil)); d.DatabaseURL != DefaultDatabaseURL || d.RedisURL != DefaultRedisURL {
		t.Errorf("defaults drifted from DefaultDatabaseURL/DefaultRedisURL: %+v", d)
	}
}

// readmeTable renders Settings() as the README's markdown rows.
func readmeTable() string {
	var b strings.Builder
	for _, s := range Settings() {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", s.Name, s.Default, s.Doc)
	}
	return b.String()
}

// The README's settings table is Settings(), row for row.
func TestReadmeSettingsTable(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const header = "| variable | default | what |\n|---|---|---|\n"
	_, rest, ok := strings.Cut(string(data), header)
	if !ok {
		t.Fatal("README has no settings table")
	}
	table, _, _ := strings.Cut(rest, "\n\n")
	if strings.TrimSpace(table) != strings.TrimSpace(readmeTable()) {
		t.Errorf("README settings table differs from platform/config.Settings(); it should be:\n%s", readmeTable())
	}
}

// scripts/env.sh resolves the same defaults as ReadLocal, for the defaults and an offset.
func TestShellDefaultsMatch(t *testing.T) {
	for _, env := range []map[string]string{nil, {EnvPortOffset: "100", EnvPGPort: "5440"}} {
		l := ReadLocal(FromMap(env))
		want := map[string]string{
			EnvGatewayPort: fmt.Sprint(l.Ports.Gateway), EnvTenancyPort: fmt.Sprint(l.Ports.Tenancy),
			EnvCatalogPort: fmt.Sprint(l.Ports.Catalog), EnvEntitlementsPort: fmt.Sprint(l.Ports.Entitlements),
			EnvInsightsPort: fmt.Sprint(l.Ports.Insights), EnvBillingPort: fmt.Sprint(l.Ports.Billing),
			EnvSMTPPort: fmt.Sprint(l.Ports.SMTP), EnvStripeMockPort: fmt.Sprint(l.Ports.StripeMock),
			EnvStripeMockTLSPort: fmt.Sprint(l.Ports.StripeMockHTTPS), EnvWebDevPort: fmt.Sprint(l.Ports.WebDev),
			EnvDatabaseURL: l.DatabaseURL, EnvRedisURL: l.RedisURL,
		}
		script := ". ../../scripts/env.sh\n"
		for name := range want {
			script += fmt.Sprintf("echo %s=$%s\n", name, name)
		}
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("env.sh: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			name, val, _ := strings.Cut(line, "=")
			if want[name] != val {
				t.Errorf("env %v: env.sh %s=%s, platform/config says %s", env, name, val, want[name])
			}
		}
	}
}
