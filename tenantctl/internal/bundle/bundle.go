// Package bundle collects Backstage catalog files from disk for `tenantctl catalog import`:
// the YAML files named or found under the given paths, every local file their Location
// entities point to, and every file their $text/$json/$yaml substitutions read, keyed by
// slash paths relative to one common root so the catalog can follow the same references.
package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds one file; the gateway would refuse a bigger request anyway.
const MaxFileSize = 32 << 20

// File is one file of the bundle.
type File struct {
	// Path is slash separated and relative to the bundle root.
	Path string
	Abs  string
	Data []byte
	// Docs are the parsed YAML documents of an entity file (nil for substitution sources).
	Docs []*yaml.Node
	// entity is true for catalog files; false for files only read by substitutions.
	entity     bool
	named      bool // named on the command line or found in a named directory
	referenced bool // the target of a Location or a substitution
}

// Bundle is the collected files.
type Bundle struct {
	Root  string
	Files []*File // in the order they were read
	byAbs map[string]*File
}

// Load collects the bundle for paths (files or directories).
func Load(paths []string) (*Bundle, error) {
	b := &Bundle{byAbs: map[string]*File{}}
	var queue []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			b.want(abs, true, true, &queue)
			continue
		}
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != abs && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
					return filepath.SkipDir
				}
				return nil
			}
			if isYAML(path) {
				b.want(path, true, true, &queue)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for len(queue) > 0 {
		abs := queue[0]
		queue = queue[1:]
		if err := b.read(b.byAbs[abs], &queue); err != nil {
			return nil, err
		}
	}
	if len(b.Files) == 0 {
		return nil, errors.New("no .yaml or .yml files found")
	}
	b.Root = commonDir(b.Files)
	for _, f := range b.Files {
		rel, err := filepath.Rel(b.Root, f.Abs)
		if err != nil {
			return nil, err
		}
		f.Path = filepath.ToSlash(rel)
	}
	return b, nil
}

// want records that abs is part of the bundle and queues it if it is new.
func (b *Bundle) want(abs string, entity, named bool, queue *[]string) {
	f, ok := b.byAbs[abs]
	if !ok {
		f = &File{Abs: abs}
		b.byAbs[abs] = f
		*queue = append(*queue, abs)
	}
	f.entity = f.entity || entity
	f.named = f.named || named
	if !named {
		f.referenced = true
	}
}

func (b *Bundle) read(f *File, queue *[]string) error {
	data, err := readLimited(f.Abs)
	if err != nil {
		return err
	}
	f.Data = data
	b.Files = append(b.Files, f)
	if !f.entity || !isYAML(f.Abs) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", f.Abs, i+1, err)
		}
		f.Docs = append(f.Docs, &doc)
		dir := filepath.Dir(f.Abs)
		for _, t := range locationTargets(&doc) {
			if strings.Contains(t, "://") {
				continue // remote: the catalog records it and reports it skipped
			}
			matches, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(t)))
			if err != nil {
				return fmt.Errorf("%s: target %q: %w", f.Abs, t, err)
			}
			for _, m := range matches {
				b.want(m, true, false, queue)
			}
		}
		for _, s := range substitutions(&doc) {
			if strings.Contains(s.ref, "://") {
				continue
			}
			p := filepath.Join(dir, filepath.FromSlash(s.ref))
			if _, err := os.Stat(p); err == nil {
				b.want(p, false, false, queue)
			}
		}
	}
	return nil
}

func readLimited(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes is over the %d MiB limit for one file", path, st.Size(), MaxFileSize>>20)
	}
	return os.ReadFile(path)
}

func isYAML(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".yaml" || ext == ".yml"
}

func commonDir(files []*File) string {
	root := filepath.Dir(files[0].Abs)
	for _, f := range files[1:] {
		for !within(root, f.Abs) {
			parent := filepath.Dir(root)
			if parent == root {
				break
			}
			root = parent
		}
	}
	return root
}

func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Roots are the files to start the import from: entity files named on the command line (or
// found in a named directory) that no other file points to. Following Locations from them
// reaches the rest exactly once.
func (b *Bundle) Roots() []string {
	var roots []string
	for _, f := range b.Files {
		if f.entity && f.named && !f.referenced {
			roots = append(roots, f.Path)
		}
	}
	if len(roots) == 0 { // a Location cycle through the named files
		for _, f := range b.Files {
			if f.named {
				roots = append(roots, f.Path)
			}
		}
	}
	slices.Sort(roots)
	return roots
}

// FileMap is the bundle as ImportBundle takes it.
func (b *Bundle) FileMap() map[string]string {
	m := make(map[string]string, len(b.Files))
	for _, f := range b.Files {
		m[f.Path] = string(f.Data)
	}
	return m
}

// Size is the total size of the files.
func (b *Bundle) Size() int {
	n := 0
	for _, f := range b.Files {
		n += len(f.Data)
	}
	return n
}

// EntityCount is the number of non-empty documents in entity files.
func (b *Bundle) EntityCount() int {
	n := 0
	for _, f := range b.Files {
		for _, d := range f.Docs {
			if !empty(d) {
				n++
			}
		}
	}
	return n
}

func empty(doc *yaml.Node) bool {
	return len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null")
}

// locationTargets returns spec.target and spec.targets of a kind: Location document.
func locationTargets(doc *yaml.Node) []string {
	root := docMap(doc)
	if root == nil || !strings.EqualFold(scalar(get(root, "kind")), "Location") {
		return nil
	}
	spec := get(root, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	if t := scalar(get(spec, "target")); t != "" {
		out = append(out, t)
	}
	if ts := get(spec, "targets"); ts != nil && ts.Kind == yaml.SequenceNode {
		for _, n := range ts.Content {
			if t := scalar(n); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

type substitution struct {
	node *yaml.Node // the {$text: ref} mapping
	kind string     // "$text", "$json" or "$yaml"
	ref  string
}

// substitutions finds every {$text|$json|$yaml: ref} mapping in a document.
func substitutions(doc *yaml.Node) []substitution {
	var out []substitution
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
			k := n.Content[0].Value
			if (k == "$text" || k == "$json" || k == "$yaml") && n.Content[1].Kind == yaml.ScalarNode {
				out = append(out, substitution{node: n, kind: k, ref: n.Content[1].Value})
				return
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func docMap(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		return doc.Content[0]
	}
	return nil
}

func get(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
