package store

import (
	"errors"
	"strconv"

	"atrium.dev/services/catalog/internal/jsonspan"
)

// decodeJSON decodes one JSON value into nil, bool, float64, string, []any and map[string]any,
// as encoding/json does into an interface{}, in a third of the time and allocations: every
// listed entity's body goes through it, and encoding/json's reflection was 40% of a page's CPU.
// Input is what Postgres prints for a jsonb column, but any valid JSON is accepted; invalid
// JSON is an error (numbers are checked by strconv, a little more leniently than JSON does).
func decodeJSON(data []byte) (any, error) {
	d := jsonDecoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.pos != len(d.data) {
		return nil, errJSON
	}
	return v, nil
}

var errJSON = errors.New("store: malformed JSON body")

// maxJSONDepth bounds recursion; stored bodies were validated far shallower.
const maxJSONDepth = 256

type jsonDecoder struct {
	data []byte
	pos  int
}

func (d *jsonDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errJSON
	}
	d.space()
	if d.pos >= len(d.data) {
		return nil, errJSON
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		d.pos++
		m := map[string]any{}
		d.space()
		if d.pos < len(d.data) && d.data[d.pos] == '}' {
			d.pos++
			return m, nil
		}
		for {
			d.space()
			key, err := d.str()
			if err != nil {
				return nil, err
			}
			d.space()
			if d.pos >= len(d.data) || d.data[d.pos] != ':' {
				return nil, errJSON
			}
			d.pos++
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[key] = v
			d.space()
			if d.pos >= len(d.data) {
				return nil, errJSON
			}
			if d.data[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.data[d.pos] == '}' {
				d.pos++
				return m, nil
			}
			return nil, errJSON
		}
	case c == '[':
		d.pos++
		list := []any{}
		d.space()
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return list, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			d.space()
			if d.pos >= len(d.data) {
				return nil, errJSON
			}
			if d.data[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.data[d.pos] == ']' {
				d.pos++
				return list, nil
			}
			return nil, errJSON
		}
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return d.number()
	}
}

func (d *jsonDecoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return errJSON
	}
	d.pos += len(word)
	return nil
}

func (d *jsonDecoder) number() (any, error) {
	start := d.pos
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			d.pos++
			continue
		}
		break
	}
	if start == d.pos {
		return nil, errJSON
	}
	f, err := strconv.ParseFloat(string(d.data[start:d.pos]), 64)
	if err != nil {
		return nil, errJSON
	}
	return f, nil
}

// str reads a string; strings without escapes (nearly all) are one allocation.
func (d *jsonDecoder) str() (string, error) {
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return "", errJSON
	}
	d.pos++
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c == '"' {
			s := string(d.data[start:d.pos])
			d.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.pos++
	}
	// Escaped: find the closing quote, then decode the inside as jsonspan (the raw writers'
	// reader) does, so both read a string the same way.
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c == '"':
			buf, err := jsonspan.Unescape(d.data[start:d.pos])
			if err != nil {
				return "", errJSON
			}
			d.pos++
			return string(buf), nil
		case c == '\\':
			d.pos += 2
		default:
			d.pos++
		}
	}
	return "", errJSON
}
