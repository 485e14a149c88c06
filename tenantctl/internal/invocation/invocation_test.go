package invocation

import (
	"path/filepath"
	"strings"
	"testing"

	"atrium.dev/tenantctl/internal/cliconfig"
)

func TestTargets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	cfg := &cliconfig.Config{CurrentContext: "local", Contexts: []cliconfig.Context{
		{Name: "local", URL: "http://ctx:8080", OperatorToken: "atr_op_ctx", Tenant: "demo", TenantToken: "atr_pat_ctx"},
		{Name: "bare", URL: "http://bare:8080"},
	}}
	if err := cfg.Save(path); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		global     GlobalFlags
		tenant     string // "" tests OperatorTarget, else TenantTarget(tenant)
		wantURL    string
		wantToken  string
		wantErrSub string
	}{
		{name: "context", wantURL: "http://ctx:8080", wantToken: "atr_op_ctx"},
		{name: "env beats context", env: map[string]string{EnvURL: "http://env", EnvOperatorToken: "atr_op_env"}, wantURL: "http://env", wantToken: "atr_op_env"},
		{name: "flags beat env", env: map[string]string{EnvURL: "http://env", EnvOperatorToken: "atr_op_env"}, global: GlobalFlags{URL: "http://flag", Token: "atr_op_flag"}, wantURL: "http://flag", wantToken: "atr_op_flag"},
		{name: "other context", global: GlobalFlags{Context: "bare"}, wantErrSub: "no operator token"},
		{name: "unknown context", global: GlobalFlags{Context: "nope"}, wantErrSub: `no context "nope"`},
		{name: "tenant token from context", tenant: "demo", wantURL: "http://ctx:8080", wantToken: "atr_pat_ctx"},
		{name: "tenant token of another tenant", tenant: "acme", wantErrSub: `holds a token for tenant "demo"`},
		{name: "tenant token flag", tenant: "acme", global: GlobalFlags{Token: "atr_pat_flag"}, wantURL: "http://ctx:8080", wantToken: "atr_pat_flag"},
		{name: "operator token never used for a tenant", tenant: "demo", global: GlobalFlags{Context: "bare"}, env: map[string]string{EnvOperatorToken: "atr_op_env"}, wantErrSub: "no tenant token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{cliconfig.EnvConfig: path}
			for k, v := range tt.env {
				env[k] = v
			}
			inv := &Invocation{Getenv: func(k string) string { return env[k] }, Global: tt.global}
			var url, token string
			var err error
			if tt.tenant == "" {
				tg, e := inv.OperatorTarget()
				url, token, err = tg.URL, tg.Token, e
			} else {
				tg, e := inv.TenantTarget(tt.tenant)
				url, token, err = tg.URL, tg.Token, e
				if e == nil && tg.Tenant != tt.tenant {
					t.Errorf("tenant = %q", tg.Tenant)
				}
			}
			if tt.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
					t.Fatalf("err = %v, want %q", err, tt.wantErrSub)
				}
				return
			}
			if err != nil || url != tt.wantURL || token != tt.wantToken {
				t.Fatalf("got %q %q %v; want %q %q", url, token, err, tt.wantURL, tt.wantToken)
			}
		})
	}
}
