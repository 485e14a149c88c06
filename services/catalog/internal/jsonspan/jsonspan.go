// Package jsonspan walks JSON text (what Postgres prints for a jsonb column) as byte spans,
// without decoding it into maps and slices. The catalog's handlers write an entity read
// from Postgres straight from its stored text into their own encodings with it: decoding
// 100 bodies into maps and encoding the maps again was most of the CPU of a by-refs call
// that missed the read cache (docs/BENCHMARKS.md).
//
// Spans start at a value's first byte (no leading space) and end after its last. The
// walkers check structure (brackets, commas, colons, string and literal syntax) as they go;
// numbers are left to the caller (strconv), as the store's decoder leaves them.
package jsonspan

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax reports malformed JSON text.
var ErrSyntax = errors.New("jsonspan: malformed JSON")

// MaxDepth bounds nesting, as the store's decoder does.
const MaxDepth = 256

func space(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Trim returns data without leading and trailing white space.
func Trim(data []byte) []byte {
	i := space(data, 0)
	j := len(data)
	for j > i {
		switch data[j-1] {
		case ' ', '\t', '\n', '\r':
			j--
			continue
		}
		break
	}
	return data[i:j]
}

// Skip returns the end of the value starting at data[i] (which must not be space).
func Skip(data []byte, i int) (int, error) {
	return skip(data, i, 0)
}

func skip(data []byte, i, depth int) (int, error) {
	if depth > MaxDepth || i >= len(data) {
		return 0, ErrSyntax
	}
	switch c := data[i]; {
	case c == '{':
		return members(data, i, depth, nil)
	case c == '[':
		return items(data, i, depth, nil)
	case c == '"':
		end, _, err := stringEnd(data, i)
		return end, err
	case c == 't':
		return literal(data, i, "true")
	case c == 'f':
		return literal(data, i, "false")
	case c == 'n':
		return literal(data, i, "null")
	}
	start := i
	for i < len(data) {
		switch c := data[i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			i++
			continue
		}
		break
	}
	if i == start {
		return 0, ErrSyntax
	}
	return i, nil
}

func literal(data []byte, i int, word string) (int, error) {
	if len(data)-i < len(word) || string(data[i:i+len(word)]) != word {
		return 0, ErrSyntax
	}
	return i + len(word), nil
}

// stringEnd returns the end of the string starting at data[i] and whether it holds an
// escape or a byte that JSON requires escaped.
func stringEnd(data []byte, i int) (int, bool, error) {
	i++
	plain := true
	for i < len(data) {
		switch c := data[i]; {
		case c == '"':
			return i + 1, !plain, nil
		case c == '\\':
			plain = false
			i += 2
			continue
		case c < 0x20:
			return 0, false, ErrSyntax
		}
		i++
	}
	return 0, false, ErrSyntax
}

// Object calls fn for each member of the object span obj, in the text's order, with the
// key's raw bytes (between the quotes, escapes as written), whether the key has escapes,
// and the value's span.
func Object(obj []byte, fn func(key []byte, escaped bool, val []byte) error) error {
	return ObjectDepth(obj, 0, fn)
}

// ObjectDepth is Object for an object nested depth levels deep (for MaxDepth).
func ObjectDepth(obj []byte, depth int, fn func(key []byte, escaped bool, val []byte) error) error {
	if len(obj) == 0 || obj[0] != '{' {
		return ErrSyntax
	}
	end, err := members(obj, 0, depth, fn)
	if err == nil && end != len(obj) {
		err = ErrSyntax
	}
	return err
}

func members(data []byte, i, depth int, fn func(key []byte, escaped bool, val []byte) error) (int, error) {
	if depth > MaxDepth {
		return 0, ErrSyntax
	}
	i = space(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, ErrSyntax
		}
		kend, escaped, err := stringEnd(data, i)
		if err != nil {
			return 0, err
		}
		key := data[i+1 : kend-1]
		i = space(data, kend)
		if i >= len(data) || data[i] != ':' {
			return 0, ErrSyntax
		}
		i = space(data, i+1)
		vend, err := skip(data, i, depth+1)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			if err := fn(key, escaped, data[i:vend]); err != nil {
				return 0, err
			}
		}
		i = space(data, vend)
		if i >= len(data) {
			return 0, ErrSyntax
		}
		switch data[i] {
		case ',':
			i = space(data, i+1)
			continue
		case '}':
			return i + 1, nil
		}
		return 0, ErrSyntax
	}
}

// Array calls fn for each item's span of the array span arr.
func Array(arr []byte, fn func(item []byte) error) error {
	return ArrayDepth(arr, 0, fn)
}

// ArrayDepth is Array for an array nested depth levels deep.
func ArrayDepth(arr []byte, depth int, fn func(item []byte) error) error {
	if len(arr) == 0 || arr[0] != '[' {
		return ErrSyntax
	}
	end, err := items(arr, 0, depth, fn)
	if err == nil && end != len(arr) {
		err = ErrSyntax
	}
	return err
}

func items(data []byte, i, depth int, fn func(item []byte) error) (int, error) {
	if depth > MaxDepth {
		return 0, ErrSyntax
	}
	i = space(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := skip(data, i, depth+1)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			if err := fn(data[i:end]); err != nil {
				return 0, err
			}
		}
		i = space(data, end)
		if i >= len(data) {
			return 0, ErrSyntax
		}
		switch data[i] {
		case ',':
			i = space(data, i+1)
			continue
		case ']':
			return i + 1, nil
		}
		return 0, ErrSyntax
	}
}

// String returns the text of the string span s (quotes included); without escapes it is the
// span's inside, shared, not copied.
func String(s []byte) ([]byte, error) {
	end, escaped, err := stringEnd(s, 0)
	if err != nil || end != len(s) {
		return nil, ErrSyntax
	}
	if !escaped {
		return s[1 : len(s)-1], nil
	}
	return Unescape(s[1 : len(s)-1])
}

// Unescape decodes the inside of a JSON string as the store's decoder (and encoding/json)
// does: a lone surrogate becomes U+FFFD.
func Unescape(in []byte) ([]byte, error) {
	buf := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		c := in[i]
		if c != '\\' {
			if c < 0x20 || c == '"' {
				return nil, ErrSyntax
			}
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(in) {
			return nil, ErrSyntax
		}
		e := in[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(in, i)
			if !ok {
				return nil, ErrSyntax
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+1 < len(in) && in[i] == '\\' && in[i+1] == 'u' {
					if lo, ok := hex4(in, i+2); ok {
						if r2 = utf16.DecodeRune(r, lo); r2 != utf8.RuneError {
							i += 6
						}
					}
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, ErrSyntax
		}
	}
	return buf, nil
}

func hex4(in []byte, i int) (rune, bool) {
	if len(in)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range in[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
