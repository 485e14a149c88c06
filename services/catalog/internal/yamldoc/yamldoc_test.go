package yamldoc

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []Document
	}{
		{"one document", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n",
			[]Document{{0, 1, map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{"name": "a"}}}}},
		{"empty and null documents are skipped", "---\n---\na: 1\n---\n# only a comment\n---\n~\n---\nnull\n---\nb: 2\n",
			[]Document{{0, 3, map[string]any{"a": 1.0}}, {1, 11, map[string]any{"b": 2.0}}}},
		{"empty input", "", nil},
		{"JSON is YAML", `{"a": [1, "x", true, null]}`, []Document{{0, 1, map[string]any{"a": []any{1.0, "x", true, nil}}}}},
		{"scalar types", "s: text\nq: '1'\ni: 42\nh: 0x1F\no: 0o17\nf: 1.5e3\nb: true\nn: null\nt: 2021-01-01\nbin: !!binary aGk=\nc: !custom value\nyes: yes\n",
			[]Document{{0, 1, map[string]any{"s": "text", "q": "1", "i": 42.0, "h": 31.0, "o": 15.0, "f": 1500.0, "b": true, "n": nil,
				"t": "2021-01-01", "bin": "aGk=", "c": "value", "yes": "yes"}}}},
		{"big integers become doubles", "n: 12345678901234567890123\n", []Document{{0, 1, map[string]any{"n": 1.2345678901234568e22}}}},
		{"multi-line strings", "d: |\n  line 1\n  line 2\nf: >\n  folded\n  text\n",
			[]Document{{0, 1, map[string]any{"d": "line 1\nline 2\n", "f": "folded text\n"}}}},
		{"non-string scalar keys become their text", "200: ok\ntrue: x\n1.5: y\n",
			[]Document{{0, 1, map[string]any{"200": "ok", "true": "x", "1.5": "y"}}}},
		{"aliases expand", "base: &b {owner: team-a}\ncopy: *b\nlist: [*b]\n",
			[]Document{{0, 1, map[string]any{"base": map[string]any{"owner": "team-a"}, "copy": map[string]any{"owner": "team-a"},
				"list": []any{map[string]any{"owner": "team-a"}}}}}},
		{"merge key is a plain key", "<<: {a: 1}\n", []Document{{0, 1, map[string]any{"<<": map[string]any{"a": 1.0}}}}},
		{"byte order mark", "\xef\xbb\xbfa: 1\n", []Document{{0, 1, map[string]any{"a": 1.0}}}},
		{"scalar root", "hello\n", []Document{{0, 1, "hello"}}},
		{"windows line endings", "a: 1\r\n---\r\nb: 2\r\n", []Document{{0, 1, map[string]any{"a": 1.0}}, {1, 3, map[string]any{"b": 2.0}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.src), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// wantErr is one expected error: document, line (-1: any) and kind, and a message fragment.
type wantErr struct {
	doc, line int
	kind      error
	msg       string
}

func checkErrors(t *testing.T, err error, want []wantErr) {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v (%T) is not Errors", err, err)
	}
	if len(errs) != len(want) {
		t.Fatalf("errors = %v, want %d", errs, len(want))
	}
	for i, w := range want {
		e := errs[i]
		if e.Doc != w.doc || (w.line >= 0 && e.Line != w.line) || !errors.Is(e, w.kind) || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d = {doc %d line %d %v %q}, want {doc %d line %d %v %q}", i, e.Doc, e.Line, e.Kind, e.Msg, w.doc, w.line, w.kind, w.msg)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		want     []wantErr
		wantDocs int
	}{
		{"unclosed flow sequence", "a: 1\n---\nb: [\n", []wantErr{{1, 3, ErrSyntax, "did not find expected node content"}}, 1},
		{"bad indentation", "a: 1\n---\nb: 2\n  c: 3\n", []wantErr{{1, 4, ErrSyntax, "mapping values are not allowed"}}, 1},
		{"tab indentation", "a:\n\tb: 1\n", []wantErr{{0, 2, ErrSyntax, "cannot start any token"}}, 0},
		{"unknown anchor", "a: *nope\n", []wantErr{{0, -1, ErrSyntax, "unknown anchor"}}, 0},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", []wantErr{{0, 3, ErrValue, `duplicate key "a"`}}, 0},
		{"duplicate nested key", "spec:\n  owner: a\n  owner: b\n", []wantErr{{0, 3, ErrValue, `duplicate key "owner"`}}, 0},
		{"sequence as key", "? [a]\n: 1\n", []wantErr{{0, 1, ErrValue, "not a sequence"}}, 0},
		{"mapping as key", "? {a: 1}\n: 1\n", []wantErr{{0, 1, ErrValue, "not a mapping"}}, 0},
		{"null key", "~: 1\n", []wantErr{{0, 1, ErrValue, "not null"}}, 0},
		{"NaN", "n: .nan\n", []wantErr{{0, 1, ErrValue, "not a finite number"}}, 0},
		{"infinity", "a:\n  - 1\n  - -.inf\n", []wantErr{{0, 3, ErrValue, "not a finite number"}}, 0},
		{"self-referencing alias", "a: &x [1, *x]\n", []wantErr{{0, 1, ErrValue, "contains it"}}, 0},
		{"value errors do not stop later documents", "a: 1\na: 2\n---\nok: true\n---\n~\n---\nb: [1]\nb: 2\n",
			[]wantErr{{0, 2, ErrValue, "duplicate"}, {2, 9, ErrValue, "duplicate"}}, 1},
		{"syntax error stops", "a: 1\na: 2\n---\nb: [\n---\nc: 1\n", []wantErr{{0, 2, ErrValue, "duplicate"}, {1, -1, ErrSyntax, ""}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse([]byte(tt.src), Limits{})
			checkErrors(t, err, tt.want)
			if len(docs) != tt.wantDocs {
				t.Errorf("decoded %d documents, want %d: %v", len(docs), tt.wantDocs, docs)
			}
		})
	}
}

// billionLaughs is the classic alias bomb: 10 levels of 10 aliases, 10^10 nodes expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestParseLimits(t *testing.T) {
	docs := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "---\nkind: Component\nmetadata: {name: c%d}\n", i)
		}
		return b.String()
	}
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	blockNested := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "%sk:\n", strings.Repeat(" ", i))
		}
		fmt.Fprintf(&b, "%sleaf", strings.Repeat(" ", n))
		return b.String()
	}
	bigString := strings.Repeat("x", 1<<20)
	quadratic := "s: &s " + bigString + "\nl: [" + strings.Repeat("*s, ", 40) + "*s]\n"

	tests := []struct {
		name string
		src  string
		lim  Limits
		want []wantErr // nil: must succeed
	}{
		{"1000 documents pass", docs(1000), Limits{}, nil},
		{"1001 documents fail", docs(1001), Limits{}, []wantErr{{1000, 3002, ErrLimit, "more than 1000 documents"}}},
		{"custom limit on documents", docs(3), Limits{MaxDocuments: 2}, []wantErr{{2, 8, ErrLimit, "more than 2 documents"}}},
		{"empty documents are bounded too", strings.Repeat("---\n", 10*DefaultMaxDocuments+1), Limits{}, []wantErr{{0, -1, ErrLimit, "empty ones included"}}},
		{"input size", "a: " + strings.Repeat("x", 100), Limits{MaxBytes: 64}, []wantErr{{0, 0, ErrLimit, "more than the limit of 64"}}},
		{"5 MiB input fails by default", "a: " + strings.Repeat("x", 5<<20), Limits{}, []wantErr{{0, 0, ErrLimit, "bytes"}}},
		{"depth 64 passes", nested(64), Limits{}, nil},
		{"depth 65 fails", nested(65), Limits{}, []wantErr{{0, 1, ErrLimit, "deeper than 64"}}},
		{"block nesting fails", blockNested(100), Limits{}, []wantErr{{0, 65, ErrLimit, "deeper than 64"}}},
		{"yaml.v3's own depth guard is a limit", nested(20000), Limits{}, []wantErr{{0, -1, ErrLimit, "max depth"}}},
		{"billion laughs", billionLaughs(), Limits{}, []wantErr{{0, -1, ErrLimit, "nodes after expanding aliases"}}},
		{"node limit", "a: [1, 2, 3, 4]\n", Limits{MaxNodes: 4}, []wantErr{{0, 1, ErrLimit, "more than 4 nodes"}}},
		{"aliased big string", quadratic, Limits{}, []wantErr{{0, 2, ErrLimit, "bytes of scalars"}}},
		{"scalar bytes count keys", "abcdef: x\n", Limits{MaxScalarBytes: 5}, []wantErr{{0, 1, ErrLimit, "bytes of scalars"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), tt.lim)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkErrors(t, err, tt.want)
			if !errors.Is(err, ErrLimit) || errors.Is(err, ErrValue) {
				t.Errorf("errors.Is on the list: %v", err)
			}
			if tooMany := strings.Contains(tt.name, "documents"); errors.Is(err, ErrTooManyDocuments) != tooMany {
				t.Errorf("errors.Is(%v, ErrTooManyDocuments) = %v, want %v", err, !tooMany, tooMany)
			}
		})
	}
}

func TestErrorStrings(t *testing.T) {
	e := &Error{Doc: 2, Line: 14, Msg: "duplicate key \"a\"", Kind: ErrValue}
	if got := e.Error(); got != `document 2, line 14: duplicate key "a"` {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Error{Doc: 0, Msg: "too big", Kind: ErrLimit}).Error(); got != "document 0: too big" {
		t.Errorf("Error() = %q", got)
	}
	errs := Errors{e, {Doc: 3, Msg: "x", Kind: ErrSyntax}}
	if got := errs.Error(); got != `document 2, line 14: duplicate key "a"; document 3: x` {
		t.Errorf("Errors.Error() = %q", got)
	}
	if !errors.Is(errs, ErrSyntax) || !errors.Is(errs, ErrValue) || errors.Is(errs, ErrLimit) {
		t.Error("Errors.Is")
	}
}

// FuzzParse checks that no input panics or breaks the limits' promise of bounded output.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"a: 1", "a: &x [*x]", billionLaughs(), "? [a]\n: 1", "- !!binary x", "{a: [", "a: *b"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		docs, _ := Parse(src, Limits{MaxNodes: 10_000})
		for _, d := range docs {
			if d.Value == nil {
				t.Fatalf("null document returned: %+v", d)
			}
		}
	})
}

// Lines of syntax errors name the line at fault, whether yaml.v3's scanner or its parser
// found it (the parser's were one line early, and the portal showed them so).
func TestSyntaxErrorLines(t *testing.T) {
	for _, tt := range []struct {
		src  string
		line int
	}{
		{"a: 1\nb: [1\nc: 3\n", 2},
		{"a: 1\nb: {x: 1\nc: 3\n", 2},
		{"a: 1\nb: c: d\n", 2},
		{"a: 1\n\tb: 2\n", 2},
	} {
		_, err := Parse([]byte(tt.src), Limits{})
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Line != tt.line {
			t.Errorf("%q: %v, want line %d", tt.src, err, tt.line)
		}
	}
}
