package rest

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"atrium.dev/services/catalog/internal/synth"
)

func stdJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAppendJSONMatchesEncodingJSON: the fast encoder writes exactly what encoding/json writes,
// for the synthetic catalog and for the strings and numbers encoding/json treats specially.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", `quo"te \ back`, "<html> & 'x'", "tab\tnl\ncr\rbs\bff\f\x00\x1f\x7f",
		"bad utf8 \xff\xfe end", "line\u2028sep\u2029", "日本語 ✓ 😀",
		0.0, -0.0, 1.0, -1.5, 1e-7, 1e-6, 123456789.0, 1e20, 1e21, 1.5e300, 5e-324, math.MaxFloat64, 42, int64(-7),
		[]any{}, []any(nil), map[string]any{}, map[string]any(nil),
		map[string]any{"b": 1.0, "a": []any{"x", map[string]any{"z": nil, "é": "ü"}}, "": "empty key"},
		[]string{"typed", "slice"}, struct {
			A string `json:"a"`
		}{"<struct>"},
	}
	for _, e := range synth.Generate(300, 7).Entities {
		values = append(values, map[string]any(e))
	}
	for i, v := range values {
		got, err := appendJSON(nil, v)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		got = append(got, '\n')
		if want := stdJSON(t, v); !bytes.Equal(got, want) {
			t.Fatalf("%d: got  %s\nwant %s", i, got, want)
		}
	}
	if _, err := appendJSON(nil, math.NaN()); err == nil {
		t.Fatal("NaN encoded")
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	var page []any
	for _, e := range synth.Generate(100, 7).Entities {
		page = append(page, map[string]any(e))
	}
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := appendJSON(nil, page); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			stdJSON(b, page)
		}
	})
}
