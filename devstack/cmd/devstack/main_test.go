package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/redistest"
)

const exampleCatalog = `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: examples
spec:
  targets: [./team.yaml]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
spec:
  type: service
  lifecycle: production
  owner: group:payments
`

const exampleTeam = `apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
spec:
  type: team
  children: []
`

// TestUpIsIdempotent runs make up's start-up twice on the same databases: the second run
// must log in to the existing demo tenant and keep the credentials tenantctl already holds.
func TestUpIsIdempotent(t *testing.T) {
	dsn := pgtest.New(t)
	rd := redistest.New(t)
	dir := t.TempDir()
	examples := filepath.Join(dir, "examples")
	if err := os.MkdirAll(examples, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(examples, "catalog-info.yaml"), []byte(exampleCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(examples, "team.yaml"), []byte(exampleTeam), 0o644); err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "tenantctl.yaml")
	// A context of the user's own must survive.
	if err := os.WriteFile(configPath, []byte("contexts:\n  - name: prod\n    url: https://atrium.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := upConfig{
		DatabaseURL:  dsn,
		Shards:       map[string]string{"main": dsn},
		RedisURL:     rd.URL,
		RedisPrefix:  rd.Prefix,
		ExamplesDir:  examples,
		KeyDir:       filepath.Join(dir, "keys"),
		Demo:         defaultDemo,
		ConfigPath:   configPath,
		ContextName:  "local",
		PublicHost:   "localhost",
		OperatorName: "make up",
		Logger:       quietLogger(),
	}
	ctx := context.Background()

	var warn bytes.Buffer
	st, first, err := up(ctx, cfg, &warn)
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	if !first.DemoOK || !first.DemoCreated || first.OperatorToken == "" || first.TenantToken == "" {
		t.Fatalf("first up: %+v\nwarnings: %s", first, warn.String())
	}
	if first.ImportNote != "" || first.Imported != 3 {
		t.Fatalf("example import: %d entities, note %q\nwarnings: %s", first.Imported, first.ImportNote, warn.String())
	}
	var banner bytes.Buffer
	printBanner(&banner, cfg, first, "")
	for _, want := range []string{"http://demo.localhost:", defaultDemo.Email + " / " + defaultDemo.Password, "tenants list", configPath} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart on the same databases and keys.
	warn.Reset()
	st, second, err := up(ctx, cfg, &warn)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	defer st.Close()
	if !second.DemoOK || second.DemoCreated {
		t.Fatalf("second up: %+v\nwarnings: %s", second, warn.String())
	}
	if second.OperatorToken != first.OperatorToken || second.TenantToken != first.TenantToken {
		t.Errorf("credentials changed across restarts: the tenantctl context would churn")
	}
	if warn.Len() > 0 {
		t.Errorf("second up warned: %s", warn.String())
	}

	tc, err := readTenantctlConfig(configPath)
	if err != nil {
		t.Fatal(err)
	}
	local := tc.context("local")
	if local.URL == "" || !strings.HasPrefix(local.URL, "http://localhost:") || local.OperatorToken != first.OperatorToken ||
		local.Tenant != "demo" || local.TenantToken != first.TenantToken {
		t.Fatalf("local context = %+v", local)
	}
	if tc.CurrentContext != "local" || tc.context("prod").URL != "https://atrium.example.com" {
		t.Fatalf("config = %+v", tc)
	}
	st2, err := os.Stat(configPath)
	if err != nil || st2.Mode().Perm() != 0o600 {
		t.Fatalf("config mode = %v, %v", st2.Mode(), err)
	}
}

func TestEnsureDatabase(t *testing.T) {
	dsn := pgtest.New(t)
	created, err := ensureDatabase(context.Background(), dsn)
	if err != nil || created {
		t.Fatalf("existing database: created=%v err=%v", created, err)
	}
	if _, err := ensureDatabase(context.Background(), "postgres://postgres@127.0.0.1:1/x?connect_timeout=1"); err == nil {
		t.Fatal("unreachable server: no error")
	}
	if got := redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Fatalf("redact = %q", got)
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
