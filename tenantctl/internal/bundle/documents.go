package bundle

import (
	"fmt"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Document is one entity document for ApplyEntities, used when a bundle is too big for one
// ImportBundle call.
type Document struct {
	// Source is "path#n", n counting the file's documents from 1, for error messages.
	Source string
	YAML   string
}

// Documents returns every non-empty document of the entity files, with substitutions that
// point inside the bundle resolved here (ApplyEntities has no files to read them from).
func (b *Bundle) Documents() ([]Document, error) {
	var out []Document
	for _, f := range b.Files {
		for i, doc := range f.Docs {
			if empty(doc) {
				continue
			}
			if err := b.resolve(f, doc); err != nil {
				return nil, fmt.Errorf("%s#%d: %w", f.Path, i+1, err)
			}
			text, err := yaml.Marshal(doc)
			if err != nil {
				return nil, fmt.Errorf("%s#%d: %w", f.Path, i+1, err)
			}
			out = append(out, Document{Source: fmt.Sprintf("%s#%d", f.Path, i+1), YAML: string(text)})
		}
	}
	return out, nil
}

func (b *Bundle) resolve(f *File, doc *yaml.Node) error {
	for _, s := range substitutions(doc) {
		src, ok := b.byAbs[filepath.Join(filepath.Dir(f.Abs), filepath.FromSlash(s.ref))]
		if !ok {
			continue // remote or missing: left for the catalog to report
		}
		var repl yaml.Node
		switch s.kind {
		case "$text":
			repl = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(src.Data)}
		default: // $json and $yaml: JSON is YAML
			var parsed yaml.Node
			if err := yaml.Unmarshal(src.Data, &parsed); err != nil {
				return fmt.Errorf("%s %s: %w", s.kind, s.ref, err)
			}
			if len(parsed.Content) == 1 {
				repl = *parsed.Content[0]
			}
		}
		*s.node = repl
	}
	return nil
}

// Batches splits docs into consecutive batches of at most maxDocs documents and maxBytes of
// YAML (a single bigger document gets a batch of its own).
func Batches(docs []Document, maxDocs, maxBytes int) [][]Document {
	var out [][]Document
	start, size := 0, 0
	for i, d := range docs {
		if i > start && (i-start >= maxDocs || size+len(d.YAML) > maxBytes) {
			out = append(out, docs[start:i])
			start, size = i, 0
		}
		size += len(d.YAML)
	}
	if start < len(docs) {
		out = append(out, docs[start:])
	}
	return out
}
