package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"atrium.dev/platform/config"
)

const readmePath = "../../../README.md"

// The README shows the banner `make up` prints with the default settings; it must be that
// banner, byte for byte, or a newcomer reads one thing and sees another.
func TestReadmeBanner(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := blockAfter(string(readme), "## After `make up`")
	if !ok {
		t.Fatal("README has no code block under \"## After `make up`\"")
	}
	local := config.ReadLocal(config.FromMap(nil))
	home := "/home/you"
	cfg := upConfig{
		Demo: defaultDemo, ContextName: local.ContextName, PublicHost: "localhost",
		ConfigPath:  filepath.Join(home, ".config", "atrium", "tenantctl.yaml"),
		ExamplesDir: "examples/catalog",
		SMTPPort:    local.Ports.SMTP,
	}
	sum := summary{
		GatewayURL:      fmt.Sprintf("http://127.0.0.1:%d", local.Ports.Gateway),
		TenancyURL:      fmt.Sprintf("http://127.0.0.1:%d", local.Ports.Tenancy),
		CatalogURL:      fmt.Sprintf("http://127.0.0.1:%d", local.Ports.Catalog),
		EntitlementsURL: fmt.Sprintf("http://127.0.0.1:%d", local.Ports.Entitlements),
		DemoOK:          true,
		Imported:        exampleEntities(t, "../../../examples/catalog"),
		TenantToken:     "atr_pat_x",
		ContextIsCur:    true,
	}
	var got bytes.Buffer
	printBanner(&got, cfg, sum, home)
	if strings.TrimSpace(got.String()) != strings.TrimSpace(want) {
		t.Errorf("README banner differs from what devstack prints; devstack prints:\n%s", got.String())
	}
}

// Every `make X` the README shows is a target of the Makefile.
func TestReadmeMakeTargets(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`).FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	seen := 0
	// A command starts a code line or an inline code span; "make" in prose is a verb.
	for _, m := range regexp.MustCompile("(?m)(?:^|`)make ([a-z][a-z0-9-]*)").FindAllStringSubmatch(string(readme), -1) {
		seen++
		if !targets[m[1]] {
			t.Errorf("README shows `make %s`, which the Makefile does not have", m[1])
		}
	}
	if seen < 3 {
		t.Fatalf("found only %d make commands in the README", seen)
	}
}

// blockAfter returns the first fenced code block after heading.
func blockAfter(md, heading string) (string, bool) {
	_, rest, ok := strings.Cut(md, heading)
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(rest, "```")
	if !ok {
		return "", false
	}
	_, rest, _ = strings.Cut(rest, "\n") // the fence's info string
	body, _, ok := strings.Cut(rest, "```")
	return body, ok
}

// exampleEntities counts the documents of the example catalog: what make up imports.
func exampleEntities(t *testing.T, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return err
		}
		data, err := os.ReadFile(p)
		n += len(regexp.MustCompile(`(?m)^kind:`).FindAll(data, -1))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The repository's docs stand on their own: every relative link resolves to a file in the
// repository, and none points at design notes kept elsewhere.
func TestDocsSelfContained(t *testing.T) {
	root := "../../.."
	link := regexp.MustCompile(`\]\(([^)#\s]+)`)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".atrium" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".md") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), "DESIGN.md") {
			t.Errorf("%s mentions DESIGN.md, which is not in the repository", p)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", p, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
