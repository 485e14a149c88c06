// Command synthcatalog writes the synthetic benchmark catalog of internal/synth as YAML files
// that Backstage and Atrium can both load: entities-NNN.yaml (per-file documents separated by
// "---") and refs.txt (one entity ref per line, in the files' order). The side-by-side
// benchmark with Backstage's catalog backend (make bench-backstage) feeds the same files to
// both.
//
//	go run ./services/catalog/cmd/synthcatalog -n 10000 -out /tmp/catalog
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"atrium.dev/services/catalog/internal/synth"
	"gopkg.in/yaml.v3"
)

func main() {
	n := flag.Int("n", 10000, "entities")
	seed := flag.Uint64("seed", 42, "generator seed (the catalog benchmarks use 42)")
	perFile := flag.Int("per-file", 1000, "entities per YAML file")
	out := flag.String("out", "", "directory to write (created; existing entities-*.yaml removed)")
	flag.Parse()
	if *out == "" || *perFile < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(*out, *n, *seed, *perFile); err != nil {
		log.Fatal(err)
	}
}

func write(dir string, n int, seed uint64, perFile int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "entities-*.yaml"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	cat := synth.Generate(n, seed)
	refs, err := os.Create(filepath.Join(dir, "refs.txt"))
	if err != nil {
		return err
	}
	rw := bufio.NewWriter(refs)
	for from := 0; from < len(cat.Entities); from += perFile {
		var b strings.Builder
		for i, e := range cat.Entities[from:min(from+perFile, len(cat.Entities))] {
			if i > 0 {
				b.WriteString("---\n")
			}
			doc, err := yaml.Marshal(map[string]any(e))
			if err != nil {
				return err
			}
			b.Write(doc)
			meta, _ := e["metadata"].(map[string]any)
			fmt.Fprintf(rw, "%s:default/%s\n", strings.ToLower(fmt.Sprint(e["kind"])), meta["name"])
		}
		name := filepath.Join(dir, fmt.Sprintf("entities-%03d.yaml", from/perFile))
		if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if err := rw.Flush(); err != nil {
		return err
	}
	return refs.Close()
}
