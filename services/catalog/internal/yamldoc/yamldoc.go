// Package yamldoc decodes untrusted multi-document YAML into JSON-compatible values, with
// limits that make hostile input cheap to reject: total size, document count, nesting depth,
// and the number of nodes and scalar bytes after alias expansion (a "billion laughs" file of a
// few hundred bytes expands to gigabytes; here it fails after MaxNodes steps).
//
// Values follow what Backstage reads from catalog-info.yaml with the YAML 1.2 core schema:
// mappings become map[string]any, sequences []any, numbers float64, and timestamps, binary
// and custom-tagged scalars stay strings. Scalar keys that are not strings (200: ok) become
// their source text, as JavaScript would make them; mapping or sequence keys, duplicate keys
// and non-finite numbers are errors. Merge keys ("<<") are plain keys, as in YAML 1.2.
// Documents that are empty or null are skipped.
//
// Every error carries the document index and the line, and wraps ErrSyntax, ErrLimit or
// ErrValue so a caller can tell bad input from input that is too big; exceeding
// MaxDocuments is ErrTooManyDocuments, which is also an ErrLimit:
//
//	docs, err := yamldoc.Parse(src, yamldoc.Limits{})
//	var errs yamldoc.Errors
//	if errors.As(err, &errs) {
//		for _, e := range errs { /* e.Doc, e.Line, e.Msg, errors.Is(e, yamldoc.ErrLimit) */ }
//	}
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Default limits, used for every zero field of Limits.
const (
	DefaultMaxBytes       = 4 << 20
	DefaultMaxDocuments   = 1000
	DefaultMaxDepth       = 64
	DefaultMaxNodes       = 500_000
	DefaultMaxScalarBytes = 16 << 20
)

// Limits bound the work Parse does. Zero fields take the defaults above.
type Limits struct {
	// MaxBytes is the largest input accepted.
	MaxBytes int
	// MaxDocuments is the most non-empty documents accepted.
	MaxDocuments int
	// MaxDepth is the deepest nesting of mappings and sequences.
	MaxDepth int
	// MaxNodes is the most nodes visited across the input, every alias expanded in full.
	MaxNodes int
	// MaxScalarBytes is the most scalar bytes produced across the input, aliases expanded.
	MaxScalarBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDocuments <= 0 {
		l.MaxDocuments = DefaultMaxDocuments
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	if l.MaxScalarBytes <= 0 {
		l.MaxScalarBytes = DefaultMaxScalarBytes
	}
	return l
}

// Document is one decoded document.
type Document struct {
	// Index counts the non-empty documents of the input from 0.
	Index int
	// Line is the 1-based line where the document's content starts.
	Line int
	// Value is nil, bool, float64, string, []any or map[string]any, nested.
	Value any
}

// Error kinds; every *Error wraps one.
var (
	ErrSyntax = errors.New("invalid YAML")
	ErrLimit  = errors.New("YAML limit exceeded")
	ErrValue  = errors.New("YAML value cannot be represented as JSON")
	// ErrTooManyDocuments is the ErrLimit of MaxDocuments (errors.Is matches both), so a
	// caller can tell "too many entities" from a hostile document.
	ErrTooManyDocuments = fmt.Errorf("%w: too many documents", ErrLimit)
)

// Error is one problem, located.
type Error struct {
	// Doc is the index the failing document has (or would have) among the non-empty ones.
	Doc int
	// Line is 1-based; 0 when unknown.
	Line int
	Msg  string
	Kind error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("document %d, line %d: %s", e.Doc, e.Line, e.Msg)
	}
	return fmt.Sprintf("document %d: %s", e.Doc, e.Msg)
}

// Unwrap returns ErrSyntax, ErrLimit (or ErrTooManyDocuments, which wraps it) or ErrValue.
func (e *Error) Unwrap() error { return e.Kind }

// Errors is every problem found, in document order.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Is reports whether any of the errors is target, so errors.Is(err, ErrLimit) works on the
// whole list.
func (es Errors) Is(target error) bool {
	for _, e := range es {
		if errors.Is(e, target) {
			return true
		}
	}
	return false
}

// Parse decodes every document of src. On failure the error is Errors. A syntax or limit
// error stops decoding; a value error (a duplicate key, say) fails only its document, and the
// documents after it are still decoded and checked so every problem is reported at once. The
// documents decoded without error are returned in either case.
func Parse(src []byte, lim Limits) (docs []Document, err error) {
	lim = lim.withDefaults()
	if len(src) > lim.MaxBytes {
		return nil, Errors{{Msg: fmt.Sprintf("input is %d bytes, more than the limit of %d", len(src), lim.MaxBytes), Kind: ErrLimit}}
	}
	p := &parser{lim: lim}
	defer func() {
		// yaml.v3 has panicked on hostile input before; never pass that on.
		if r := recover(); r != nil {
			p.errs = append(p.errs, &Error{Doc: p.index, Msg: fmt.Sprintf("cannot parse: %v", r), Kind: ErrSyntax})
			docs, err = p.docs, p.errs
		}
	}()
	p.run(src)
	if len(p.errs) > 0 {
		return p.docs, p.errs
	}
	return p.docs, nil
}

type parser struct {
	lim         Limits
	docs        []Document
	errs        Errors
	index       int // index of the next non-empty document
	seen        int // documents read, empty ones included
	nodes       int
	scalarBytes int
}

// maxEmptyFactor bounds empty documents ("---" lines) relative to MaxDocuments, so a file of
// separators alone is cheap too.
const maxEmptyFactor = 10

var lineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// parserErrorRE matches the messages of yaml.v3's parser (parserc.go), as opposed to its
// scanner's.
var parserErrorRE = regexp.MustCompile(`^did not find expected (<document start>|node content|key|'-' indicator|',' or '\]'|',' or '\}')|^found (duplicate %YAML directive|incompatible YAML document|duplicate %TAG directive|undefined tag handle)`)

func parserError(msg string) bool { return parserErrorRE.MatchString(msg) }

func lineCount(src []byte) int {
	n := bytes.Count(src, []byte("\n"))
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return max(n, 1)
}

func (p *parser) run(src []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			msg, line := err.Error(), 0
			if m := lineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = msg[len(m[0]):]
				// yaml.v3 adds one to the 0-based line of scanner errors only: its parser
				// errors name the line before the one at fault.
				if parserError(msg) {
					line++
				}
				// An error at the end of the input names the line after the last one.
				if n := lineCount(src); line > n {
					line = n
				}
			}
			kind := ErrSyntax
			if strings.Contains(msg, "exceeded max depth") { // yaml.v3's own nesting guard
				kind = ErrLimit
			}
			p.errs = append(p.errs, &Error{Doc: p.index, Line: line, Msg: strings.TrimPrefix(msg, "yaml: "), Kind: kind})
			return
		}
		p.seen++
		if p.seen > p.lim.MaxDocuments*maxEmptyFactor {
			p.errs = append(p.errs, &Error{Doc: p.index, Line: n.Line, Msg: fmt.Sprintf("more than %d documents, empty ones included", p.lim.MaxDocuments*maxEmptyFactor), Kind: ErrTooManyDocuments})
			return
		}
		root := &n
		if n.Kind == yaml.DocumentNode {
			if len(n.Content) == 0 {
				continue
			}
			root = n.Content[0]
		}
		if isNull(root) {
			continue
		}
		if p.index >= p.lim.MaxDocuments {
			p.errs = append(p.errs, &Error{Doc: p.index, Line: root.Line, Msg: fmt.Sprintf("more than %d documents", p.lim.MaxDocuments), Kind: ErrTooManyDocuments})
			return
		}
		c := &converter{p: p, doc: p.index, active: map[*yaml.Node]bool{}}
		v, cerr := c.value(root, 0)
		if cerr != nil {
			p.errs = append(p.errs, cerr)
			if errors.Is(cerr, ErrLimit) {
				return
			}
		} else {
			p.docs = append(p.docs, Document{Index: p.index, Line: root.Line, Value: v})
		}
		p.index++
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

type converter struct {
	p      *parser
	doc    int
	active map[*yaml.Node]bool // alias targets being expanded, to catch self-reference
	// aliasLine is the line of the outermost alias being expanded: errors inside an expansion
	// point at the alias that was used, not at the anchored node far above.
	aliasLine int
}

func (c *converter) fail(n *yaml.Node, kind error, format string, args ...any) *Error {
	line := n.Line
	if c.aliasLine > 0 {
		line = c.aliasLine
	}
	return &Error{Doc: c.doc, Line: line, Msg: fmt.Sprintf(format, args...), Kind: kind}
}

func (c *converter) value(n *yaml.Node, depth int) (any, *Error) {
	c.p.nodes++
	if c.p.nodes > c.p.lim.MaxNodes {
		return nil, c.fail(n, ErrLimit, "more than %d nodes after expanding aliases", c.p.lim.MaxNodes)
	}
	switch n.Kind {
	case yaml.AliasNode:
		target := n.Alias
		if target == nil {
			return nil, c.fail(n, ErrSyntax, "alias *%s has no anchor", n.Value)
		}
		if c.active[target] {
			return nil, c.fail(n, ErrValue, "alias *%s refers to a node that contains it", n.Value)
		}
		c.active[target] = true
		outer := c.aliasLine == 0
		if outer {
			c.aliasLine = n.Line
		}
		v, err := c.value(target, depth)
		if outer {
			c.aliasLine = 0
		}
		delete(c.active, target)
		return v, err
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.SequenceNode:
		if depth >= c.p.lim.MaxDepth {
			return nil, c.fail(n, ErrLimit, "nested deeper than %d levels", c.p.lim.MaxDepth)
		}
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.value(item, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		if depth >= c.p.lim.MaxDepth {
			return nil, c.fail(n, ErrLimit, "nested deeper than %d levels", c.p.lim.MaxDepth)
		}
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, err := c.key(n.Content[i])
			if err != nil {
				return nil, err
			}
			if _, dup := out[key]; dup {
				return nil, c.fail(n.Content[i], ErrValue, "duplicate key %q", key)
			}
			v, err := c.value(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			out[key] = v
		}
		return out, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth)
	default:
		return nil, c.fail(n, ErrSyntax, "unexpected node kind %d", n.Kind)
	}
}

// key returns a mapping key as a string: string scalars as they are, other scalars by their
// source text (as JavaScript turns keys into strings), anything else is an error.
func (c *converter) key(n *yaml.Node) (string, *Error) {
	k := n
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	c.p.nodes++
	if c.p.nodes > c.p.lim.MaxNodes {
		return "", c.fail(n, ErrLimit, "more than %d nodes after expanding aliases", c.p.lim.MaxNodes)
	}
	if k.Kind != yaml.ScalarNode {
		return "", c.fail(n, ErrValue, "a mapping key must be a string, not a %s", kindName(k.Kind))
	}
	if k.ShortTag() == "!!null" {
		return "", c.fail(n, ErrValue, "a mapping key must be a string, not null")
	}
	if err := c.countBytes(n, len(k.Value)); err != nil {
		return "", err
	}
	return k.Value, nil
}

func (c *converter) countBytes(n *yaml.Node, size int) *Error {
	c.p.scalarBytes += size
	if c.p.scalarBytes > c.p.lim.MaxScalarBytes {
		return c.fail(n, ErrLimit, "more than %d bytes of scalars after expanding aliases", c.p.lim.MaxScalarBytes)
	}
	return nil
}

func (c *converter) scalar(n *yaml.Node) (any, *Error) {
	if err := c.countBytes(n, len(n.Value)); err != nil {
		return nil, err
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, c.fail(n, ErrValue, "invalid boolean %q", n.Value)
		}
		return b, nil
	case "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, c.fail(n, ErrValue, "invalid number %q", n.Value)
		}
		f, ok := toFloat(v)
		if !ok {
			return nil, c.fail(n, ErrValue, "invalid number %q", n.Value)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, c.fail(n, ErrValue, "%q is not a finite number; quote it to make it a string", n.Value)
		}
		return f, nil
	default:
		// !!str, and what YAML 1.2's core schema does not know (!!timestamp, !!binary,
		// custom tags): Backstage reads those as strings too.
		return n.Value, nil
	}
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case string:
		// A tagged value yaml.v3 would not resolve, like !!int "1_000".
		f, err := strconv.ParseFloat(strings.ReplaceAll(x, "_", ""), 64)
		return f, err == nil
	default:
		return 0, false
	}
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	default:
		return "node"
	}
}
