package rest

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"unicode/utf8"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/jsonspan"
	"atrium.dev/services/catalog/internal/store"
)

// rawEntitySize is about what appendRawEntity writes for r, a little more rather than less:
// the text, the server's metadata fields, and per relation its object (its ref twice, once
// in parts). Starting from 1.5 times the text, every entity's buffer grew as it was written
// (the relations are most of an entity that has few fields); the read cache charges what is
// left over, so the estimate stays close.
func rawEntitySize(r store.Raw) int {
	n := len(r.Body) + len(r.UID) + len(r.Etag) + 56
	for _, rel := range r.Relations {
		n += 72 + len(rel.Type) + 2*len(rel.TargetRef)
	}
	return n
}

// appendRawEntity appends the entity r as appendJSON writes store.DecodeRaw(r), straight from
// the stored text: objects' members sorted by key, strings and numbers in encoding/json's
// form, the server's fields (metadata's uid, etag and generation; relations) put in as
// Entity.SetServerFields puts them. Postgres prints strings escaped as encoding/json does,
// so a string without escapes, U+2028 or U+2029 is copied as it is. An error means "decode
// instead" (store.Encoder.Raw).
func appendRawEntity(dst []byte, r store.Raw) ([]byte, error) {
	body := jsonspan.Trim(r.Body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errNotObject
	}
	rels := memberRelations
	if r.Relations == nil {
		rels = memberDropped // SetServerFields deletes the key then
	}
	return appendRawObject(dst, body, 0, []member{{key: []byte("metadata"), kind: memberMeta}, {key: []byte("relations"), kind: rels}}, &r)
}

var errNotObject = errors.New("rest: stored entity is not a JSON object")

// member is one member of an object being written: a value span of the text, or one of the
// server's fields (kind).
type member struct {
	key  []byte // decoded
	val  []byte
	kind uint8
}

const (
	memberText uint8 = iota
	memberMeta       // val: the stored metadata object, nil if there is none
	memberRelations
	memberUID
	memberEtag
	memberGeneration
	memberDropped // a stored member the server's fields remove
)

func appendRawObject(dst, obj []byte, depth int, extra []member, r *store.Raw) ([]byte, error) {
	var stack [24]member
	ms := append(stack[:0], extra...)
	if obj != nil {
		err := jsonspan.ObjectDepth(obj, depth, func(k []byte, escaped bool, v []byte) error {
			if escaped {
				var err error
				if k, err = jsonspan.Unescape(k); err != nil {
					return err
				}
			}
			for i := range extra {
				if bytes.Equal(extra[i].key, k) {
					if ms[i].kind == memberMeta && len(v) > 0 && v[0] == '{' {
						ms[i].val = v // SetServerFields adds to a stored metadata object
					}
					return nil // the server's field replaces the stored one
				}
			}
			ms = append(ms, member{key: k, val: v})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	dst = append(dst, '{')
	first := true
	for _, m := range ms {
		if m.kind == memberDropped {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendRawKey(dst, m.key)
		dst = append(dst, ':')
		var err error
		switch m.kind {
		case memberText:
			dst, err = appendRawValue(dst, m.val, depth+1)
		case memberMeta:
			dst, err = appendRawObject(dst, m.val, depth+1, []member{
				{key: []byte("uid"), kind: memberUID},
				{key: []byte("etag"), kind: memberEtag},
				{key: []byte("generation"), kind: memberGeneration},
			}, r)
		case memberRelations:
			dst = appendRelations(dst, r.Relations)
		case memberUID:
			dst = appendString(dst, r.UID)
		case memberEtag:
			dst = appendString(dst, r.Etag)
		case memberGeneration:
			dst, err = appendFloat(dst, float64(r.Generation))
		}
		if err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// appendRawKey writes a decoded key; keys are nearly always plain ASCII.
func appendRawKey(dst, k []byte) []byte {
	if plainString(k) {
		dst = append(dst, '"')
		dst = append(dst, k...)
		return append(dst, '"')
	}
	return appendString(dst, string(k))
}

// plainString reports whether appendString writes s as it is between quotes: no byte it
// escapes, valid UTF-8, no U+2028 or U+2029.
func plainString(s []byte) bool {
	ascii := true
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		return true
	}
	return utf8.Valid(s) && !bytes.Contains(s, []byte("\u2028")) && !bytes.Contains(s, []byte("\u2029"))
}

func appendRawValue(dst, v []byte, depth int) ([]byte, error) {
	if len(v) == 0 {
		return nil, jsonspan.ErrSyntax
	}
	switch c := v[0]; {
	case c == '{':
		return appendRawObject(dst, v, depth, nil, nil)
	case c == '[':
		dst = append(dst, '[')
		first := true
		err := jsonspan.ArrayDepth(v, depth, func(item []byte) error {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			var err error
			dst, err = appendRawValue(dst, item, depth+1)
			return err
		})
		if err != nil {
			return nil, err
		}
		return append(dst, ']'), nil
	case c == '"':
		s, err := jsonspan.String(v)
		if err != nil {
			return nil, err
		}
		return appendRawKey(dst, s), nil
	case c == 't', c == 'f', c == 'n':
		return append(dst, v...), nil // Skip checked the literal
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return nil, err
	}
	return appendFloat(dst, f)
}

// appendRelations writes relations as appendJSON writes their maps (Relation.toValue):
// keys sorted, target's parts lowercased.
func appendRelations(dst []byte, rels []entity.Relation) []byte {
	dst = append(dst, '[')
	for i, rel := range rels {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"target":{"kind":`...)
		dst = appendString(dst, rel.Target.Kind)
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, rel.Target.Name)
		dst = append(dst, `,"namespace":`...)
		dst = appendString(dst, rel.Target.Namespace)
		dst = append(dst, `},"targetRef":`...)
		dst = appendString(dst, rel.TargetRef)
		dst = append(dst, `,"type":`...)
		dst = appendString(dst, rel.Type)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}
