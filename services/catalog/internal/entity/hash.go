package entity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// Etag is the content hash of an entity: 32 hex characters of the SHA-256 of its canonical
// JSON without metadata.uid, metadata.etag, metadata.generation, relations and status. Two
// entities with equal content have equal etags whatever their key order or number types.
func Etag(e Entity) string {
	content := make(map[string]any, len(e))
	for k, v := range e {
		if k == "relations" || k == "status" {
			continue
		}
		content[k] = v
	}
	if meta, ok := e["metadata"].(map[string]any); ok {
		m := make(map[string]any, len(meta))
		for k, v := range meta {
			if k != "uid" && k != "etag" && k != "generation" {
				m[k] = v
			}
		}
		content["metadata"] = m
	}
	return hashOf(content)
}

// SpecHash is the hash of spec alone (of null when absent); the store increments generation
// when it changes.
func SpecHash(e Entity) string { return hashOf(e["spec"]) }

func hashOf(v any) string {
	sum := sha256.Sum256(CanonicalJSON(v))
	return hex.EncodeToString(sum[:16])
}

// CanonicalJSON encodes a JSON value deterministically: object keys sorted, no whitespace,
// integers without exponent or fraction, HTML characters unescaped. Values outside the JSON
// set (possible only in entities built by hand) go through encoding/json, or become null.
func CanonicalJSON(v any) []byte {
	var buf bytes.Buffer
	writeCanonical(&buf, v)
	return buf.Bytes()
}

func writeCanonical(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case string:
		writeString(buf, x)
	case float64:
		writeNumber(buf, x)
	case int:
		writeNumber(buf, float64(x))
	case int64:
		writeNumber(buf, float64(x))
	case json.Number:
		if f, err := x.Float64(); err == nil {
			writeNumber(buf, f)
		} else {
			buf.WriteString("null")
		}
	case map[string]any:
		buf.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			writeCanonical(buf, x[k])
		}
		buf.WriteByte('}')
	case Entity:
		writeCanonical(buf, map[string]any(x))
	case []any:
		buf.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonical(buf, item)
		}
		buf.WriteByte(']')
	default:
		if nv, err := normalizeValue(v, ""); err == nil {
			writeCanonical(buf, nv)
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			buf.WriteString("null")
			return
		}
		buf.Write(b)
	}
}

func writeNumber(buf *bytes.Buffer, f float64) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		buf.WriteString("null")
	case f == math.Trunc(f) && math.Abs(f) < 1e21:
		if f == 0 {
			f = 0 // -0 and 0 are the same JSON number
		}
		buf.WriteString(strconv.FormatFloat(f, 'f', -1, 64))
	default:
		buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	}
}

func writeString(buf *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case c == '\n':
				buf.WriteString(`\n`)
			case c == '\r':
				buf.WriteString(`\r`)
			case c == '\t':
				buf.WriteString(`\t`)
			case c < 0x20:
				buf.WriteString(`\u00`)
				buf.WriteByte(hexDigits[c>>4])
				buf.WriteByte(hexDigits[c&0xf])
			default:
				buf.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString(`\ufffd`) // as encoding/json does with invalid UTF-8
		} else {
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}
