package cliconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"explicit", map[string]string{EnvConfig: "/etc/t.yaml", "XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/etc/t.yaml"},
		{"xdg", map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/atrium/tenantctl.yaml"},
		{"home", map[string]string{"HOME": "/h"}, "/h/.config/atrium/tenantctl.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Path(func(k string) string { return tt.env[k] })
			if err != nil || got != tt.want {
				t.Fatalf("Path = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tenantctl.yaml")
	c, err := Load(path)
	if err != nil || len(c.Contexts) != 0 {
		t.Fatalf("missing file: %v, %+v", err, c)
	}
	c.Upsert(Context{Name: "local", URL: "http://localhost:8080", OperatorToken: "atr_op_x"})
	c.Upsert(Context{Name: "prod", URL: "https://a.example"})
	c.Upsert(Context{Name: "local", URL: "http://localhost:9090", OperatorToken: "atr_op_y"})
	c.CurrentContext = "local"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600 (the file holds secrets)", st.Mode(), err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cur, ok := got.Current()
	if !ok || cur.URL != "http://localhost:9090" || cur.OperatorToken != "atr_op_y" || len(got.Contexts) != 2 {
		t.Fatalf("loaded %+v", got)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := map[string]string{
		"not yaml":       "contexts: [",
		"unnamed":        "contexts:\n  - url: http://x\n",
		"duplicate name": "contexts:\n  - name: a\n  - name: a\n",
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want an error naming the file", err)
			}
		})
	}
}
