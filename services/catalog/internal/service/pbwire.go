package service

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/jsonspan"
	"atrium.dev/services/catalog/internal/store"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// Entities answered in protobuf's binary form skip google.protobuf.Struct: each entity is
// written straight from its map to Struct's wire form (appendStruct), the read cache keeps
// those bytes per entity and per cached page (store.Encoder), and the response carries them
// as its repeated entity field in the message's unknown fields, which proto.Marshal writes as
// they are and every decoder reads as the field itself. Building the Struct of 100 entities
// and marshalling it was 5-6 ms of CPU per page (docs/BENCHMARKS.md). protojson drops
// unknown fields, so a JSON caller (or one whose codec the handler cannot tell) gets the
// Struct messages built as before.

// binaryCodec reports whether the request's response will be protobuf's binary form: the
// Connect protocol's application/proto, gRPC's and gRPC-Web's default and +proto content
// types. A GET (no body, encoding in the query) and anything else say no.
func binaryCodec(h http.Header) bool {
	ct := h.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "application/proto", "application/grpc", "application/grpc+proto", "application/grpc-web", "application/grpc-web+proto":
		return true
	}
	return false
}

// pbEncoder encodes entities under the projection p as google.protobuf.Struct's wire form.
func pbEncoder(p filter.Projection) store.Encoder {
	enc := store.Encoder{
		Name: "pb\x00" + strings.Join(p.Fields(), "\x00"),
		Encode: func(e entity.Entity) ([]byte, error) {
			// Never nil: an empty Struct (a projection that left nothing) is an entity.
			return appendStruct(make([]byte, 0, 512), p.Apply(map[string]any(e)))
		},
	}
	if p.IsZero() {
		enc.Raw = func(r store.Raw) ([]byte, error) {
			return appendRawEntityStruct(make([]byte, 0, rawStructSize(r)), r)
		}
	}
	return enc
}

// withRaw sets m's unknown fields to field num repeated once per payload, in order, and
// returns m. With inner 0 each payload is an item itself (a nil payload, where allowed, must be
// handled by the caller). With inner > 0 each item is a message carrying its payload as its
// field inner (GetEntitiesByRefs' items, an EntityItem's entity; a nil payload is an empty
// item), written in the same pass rather than built first and copied.
func withRaw[M proto.Message](m M, num, inner protowire.Number, payloads [][]byte) M {
	item := func(p []byte) int {
		if inner == 0 || p == nil {
			return len(p)
		}
		return protowire.SizeTag(inner) + protowire.SizeBytes(len(p))
	}
	n := 0
	for _, p := range payloads {
		n += protowire.SizeTag(num) + protowire.SizeBytes(item(p))
	}
	raw := make([]byte, 0, n)
	for _, p := range payloads {
		raw = protowire.AppendTag(raw, num, protowire.BytesType)
		raw = protowire.AppendVarint(raw, uint64(item(p)))
		if inner != 0 && p != nil {
			raw = protowire.AppendTag(raw, inner, protowire.BytesType)
			raw = protowire.AppendVarint(raw, uint64(len(p)))
		}
		raw = append(raw, p...)
	}
	m.ProtoReflect().SetUnknown(protoreflect.RawFields(raw))
	return m
}

// Field numbers of google.protobuf.Struct, Value and ListValue.
const (
	structFields   = 1
	entryKey       = 1
	entryValue     = 2
	valueNull      = 1
	valueNumber    = 2
	valueString    = 3
	valueBool      = 4
	valueStruct    = 5
	valueList      = 6
	listValues     = 1
	maxStructDepth = 256
)

// appendStruct appends m as the wire form of the google.protobuf.Struct structpb.NewStruct
// makes of it, with NewStruct's errors (invalid UTF-8); values other than JSON's go through
// structpb.
func appendStruct(dst []byte, m map[string]any) ([]byte, error) {
	return appendStructDepth(dst, m, 0)
}

func appendStructDepth(dst []byte, m map[string]any, depth int) ([]byte, error) {
	if depth > maxStructDepth {
		return nil, fmt.Errorf("service: entity to struct: nested too deep")
	}
	for k, v := range m {
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("service: entity to struct: invalid UTF-8 in string: %q", k)
		}
		dst = protowire.AppendTag(dst, structFields, protowire.BytesType)
		var err error
		dst, err = appendLen(dst, func(dst []byte) ([]byte, error) {
			dst = protowire.AppendTag(dst, entryKey, protowire.BytesType)
			dst = protowire.AppendString(dst, k)
			dst = protowire.AppendTag(dst, entryValue, protowire.BytesType)
			return appendLen(dst, func(dst []byte) ([]byte, error) { return appendValue(dst, v, depth) })
		})
		if err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// appendValue appends the fields of the google.protobuf.Value of v.
func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		dst = protowire.AppendTag(dst, valueNull, protowire.VarintType)
		return protowire.AppendVarint(dst, 0), nil
	case bool:
		dst = protowire.AppendTag(dst, valueBool, protowire.VarintType)
		return protowire.AppendVarint(dst, protowire.EncodeBool(x)), nil
	case float64:
		dst = protowire.AppendTag(dst, valueNumber, protowire.Fixed64Type)
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x)), nil
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("service: entity to struct: invalid UTF-8 in string: %q", x)
		}
		dst = protowire.AppendTag(dst, valueString, protowire.BytesType)
		return protowire.AppendString(dst, x), nil
	case map[string]any:
		dst = protowire.AppendTag(dst, valueStruct, protowire.BytesType)
		return appendLen(dst, func(dst []byte) ([]byte, error) { return appendStructDepth(dst, x, depth+1) })
	case []any:
		dst = protowire.AppendTag(dst, valueList, protowire.BytesType)
		return appendLen(dst, func(dst []byte) ([]byte, error) {
			for _, item := range x {
				dst = protowire.AppendTag(dst, listValues, protowire.BytesType)
				var err error
				if dst, err = appendLen(dst, func(dst []byte) ([]byte, error) { return appendValue(dst, item, depth+1) }); err != nil {
					return nil, err
				}
			}
			return dst, nil
		})
	}
	pv, err := structpb.NewValue(v)
	if err != nil {
		return nil, fmt.Errorf("service: entity to struct: %w", err)
	}
	b, err := proto.Marshal(pv)
	if err != nil {
		return nil, fmt.Errorf("service: entity to struct: %w", err)
	}
	return append(dst, b...), nil
}

// appendLen appends what body appends, preceded by its length as a varint.
func appendLen(dst []byte, body func([]byte) ([]byte, error)) ([]byte, error) {
	// Reserve one byte for the length (most values are under 128 bytes) and move the body
	// when its length needs more.
	at := len(dst)
	dst = append(dst, 0)
	dst, err := body(dst)
	if err != nil {
		return nil, err
	}
	n := len(dst) - at - 1
	size := protowire.SizeVarint(uint64(n))
	if size == 1 {
		dst[at] = byte(n)
		return dst, nil
	}
	dst = append(dst, make([]byte, size-1)...)
	copy(dst[at+size:], dst[at+1:at+1+n])
	protowire.AppendVarint(dst[at:at], uint64(n))
	return dst, nil
}

// rawStructSize is about what appendRawEntityStruct writes for r, a little more rather than
// less: the text's members take about as many bytes again in tags and lengths as JSON spends
// on quotes, colons and commas, and each relation is a Struct of six entries (its ref twice,
// once in parts). Starting from 1.5 times the text, every entity's buffer grew once or twice
// as it was written; the read cache charges what is left over, so the estimate stays close.
func rawStructSize(r store.Raw) int {
	n := len(r.Body) + len(r.Body)/4 + len(r.UID) + len(r.Etag) + 48
	for _, rel := range r.Relations {
		n += 88 + len(rel.Type) + 2*len(rel.TargetRef)
	}
	return n
}

// appendRawEntityStruct appends the entity r as the wire form appendStruct writes of
// store.DecodeRaw(r), straight from the stored text (the members in the text's order, which
// a map's wire form does not fix), with the server's fields put in as
// Entity.SetServerFields puts them. An error means "decode instead" (store.Encoder.Raw).
// Lengths are written with beginLen and endLen rather than appendLen's closures: a closure
// per Struct entry was most of its allocations.
func appendRawEntityStruct(dst []byte, r store.Raw) ([]byte, error) {
	body := jsonspan.Trim(r.Body)
	var meta []byte
	err := jsonspan.Object(body, func(k []byte, escaped bool, v []byte) error {
		key, err := rawKey(k, escaped)
		if err != nil {
			return err
		}
		switch string(key) {
		case "metadata":
			if v[0] == '{' {
				meta = v // SetServerFields adds to a stored metadata object, else replaces it
			}
			return nil
		case "relations": // the server's relations replace stored ones
			return nil
		}
		dst, err = appendRawEntry(dst, key, v, 1)
		return err
	})
	if err != nil {
		return nil, err
	}
	dst, at, vat := beginEntry(dst, "metadata")
	dst = protowire.AppendTag(dst, valueStruct, protowire.BytesType)
	dst, sat := beginLen(dst)
	if meta != nil {
		err := jsonspan.ObjectDepth(meta, 1, func(k []byte, escaped bool, v []byte) error {
			key, err := rawKey(k, escaped)
			if err != nil {
				return err
			}
			switch string(key) {
			case "uid", "etag", "generation":
				return nil
			}
			dst, err = appendRawEntry(dst, key, v, 2)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	dst = appendStringEntry(dst, "uid", r.UID)
	dst = appendStringEntry(dst, "etag", r.Etag)
	e, eat, evat := beginEntry(dst, "generation")
	e = protowire.AppendTag(e, valueNumber, protowire.Fixed64Type)
	e = binary.LittleEndian.AppendUint64(e, math.Float64bits(float64(r.Generation)))
	dst = endLen(endLen(e, evat), eat)
	dst = endLen(endLen(endLen(dst, sat), vat), at)
	if r.Relations == nil { // SetServerFields drops the key for nil relations
		return dst, nil
	}
	dst, at, vat = beginEntry(dst, "relations")
	dst = protowire.AppendTag(dst, valueList, protowire.BytesType)
	dst, lat := beginLen(dst)
	for _, rel := range r.Relations {
		// Each item is the Value of the map SetServerFields makes: {type, targetRef, target}.
		dst = protowire.AppendTag(dst, listValues, protowire.BytesType)
		var iat, sat int
		dst, iat = beginLen(dst)
		dst = protowire.AppendTag(dst, valueStruct, protowire.BytesType)
		dst, sat = beginLen(dst)
		dst = appendStringEntry(dst, "type", rel.Type)
		dst = appendStringEntry(dst, "targetRef", rel.TargetRef)
		var tat, tvat, tsat int
		dst, tat, tvat = beginEntry(dst, "target")
		dst = protowire.AppendTag(dst, valueStruct, protowire.BytesType)
		dst, tsat = beginLen(dst)
		dst = appendStringEntry(dst, "kind", rel.Target.Kind)
		dst = appendStringEntry(dst, "namespace", rel.Target.Namespace)
		dst = appendStringEntry(dst, "name", rel.Target.Name)
		dst = endLen(endLen(endLen(dst, tsat), tvat), tat)
		dst = endLen(endLen(dst, sat), iat)
	}
	return endLen(endLen(endLen(dst, lat), vat), at), nil
}

func rawKey(k []byte, escaped bool) ([]byte, error) {
	if escaped {
		return jsonspan.Unescape(k)
	}
	return k, nil
}

// beginLen reserves one byte for a length and returns where; endLen writes the length of
// what was appended since, moving it when the length needs more than one byte (most values
// are under 128 bytes).
func beginLen(dst []byte) ([]byte, int) {
	return append(dst, 0), len(dst)
}

func endLen(dst []byte, at int) []byte {
	n := len(dst) - at - 1
	size := protowire.SizeVarint(uint64(n))
	if size == 1 {
		dst[at] = byte(n)
		return dst
	}
	var pad [9]byte
	dst = append(dst, pad[:size-1]...)
	copy(dst[at+size:], dst[at+1:at+1+n])
	protowire.AppendVarint(dst[at:at], uint64(n))
	return dst
}

// beginEntry starts a Struct entry with key (valid UTF-8, the caller's): its length's place
// and its Value's; the caller appends the Value's fields, then ends both (value first).
func beginEntry(dst []byte, key string) ([]byte, int, int) {
	dst = protowire.AppendTag(dst, structFields, protowire.BytesType)
	dst, at := beginLen(dst)
	dst = protowire.AppendTag(dst, entryKey, protowire.BytesType)
	dst = protowire.AppendString(dst, key)
	dst = protowire.AppendTag(dst, entryValue, protowire.BytesType)
	dst, vat := beginLen(dst)
	return dst, at, vat
}

// appendStringEntry appends an entry whose Value is the string s (the server's own fields).
func appendStringEntry(dst []byte, key, s string) []byte {
	dst, at, vat := beginEntry(dst, key)
	dst = protowire.AppendTag(dst, valueString, protowire.BytesType)
	dst = protowire.AppendString(dst, s)
	return endLen(endLen(dst, vat), at)
}

// appendRawEntry appends one entry of a Struct's fields: the key and the Value of the JSON
// span v.
func appendRawEntry(dst, key, v []byte, depth int) ([]byte, error) {
	if !utf8.Valid(key) {
		return nil, fmt.Errorf("service: entity to struct: invalid UTF-8 in string: %q", key)
	}
	dst = protowire.AppendTag(dst, structFields, protowire.BytesType)
	dst, at := beginLen(dst)
	dst = protowire.AppendTag(dst, entryKey, protowire.BytesType)
	dst = protowire.AppendBytes(dst, key)
	dst = protowire.AppendTag(dst, entryValue, protowire.BytesType)
	dst, vat := beginLen(dst)
	dst, err := appendRawValue(dst, v, depth)
	if err != nil {
		return nil, err
	}
	return endLen(endLen(dst, vat), at), nil
}

// appendRawValue appends the fields of the google.protobuf.Value of the JSON span v.
func appendRawValue(dst, v []byte, depth int) ([]byte, error) {
	if depth > maxStructDepth || len(v) == 0 {
		return nil, fmt.Errorf("service: entity to struct: nested too deep")
	}
	switch c := v[0]; {
	case c == '{':
		dst = protowire.AppendTag(dst, valueStruct, protowire.BytesType)
		dst, at := beginLen(dst)
		err := jsonspan.ObjectDepth(v, depth, func(k []byte, escaped bool, item []byte) error {
			key, err := rawKey(k, escaped)
			if err != nil {
				return err
			}
			dst, err = appendRawEntry(dst, key, item, depth+1)
			return err
		})
		if err != nil {
			return nil, err
		}
		return endLen(dst, at), nil
	case c == '[':
		dst = protowire.AppendTag(dst, valueList, protowire.BytesType)
		dst, at := beginLen(dst)
		err := jsonspan.ArrayDepth(v, depth, func(item []byte) error {
			dst = protowire.AppendTag(dst, listValues, protowire.BytesType)
			var iat int
			dst, iat = beginLen(dst)
			var err error
			if dst, err = appendRawValue(dst, item, depth+1); err != nil {
				return err
			}
			dst = endLen(dst, iat)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return endLen(dst, at), nil
	case c == '"':
		s, err := jsonspan.String(v)
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(s) {
			return nil, fmt.Errorf("service: entity to struct: invalid UTF-8 in string: %q", s)
		}
		dst = protowire.AppendTag(dst, valueString, protowire.BytesType)
		return protowire.AppendBytes(dst, s), nil
	case c == 't', c == 'f':
		dst = protowire.AppendTag(dst, valueBool, protowire.VarintType)
		return protowire.AppendVarint(dst, protowire.EncodeBool(c == 't')), nil
	case c == 'n':
		dst = protowire.AppendTag(dst, valueNull, protowire.VarintType)
		return protowire.AppendVarint(dst, 0), nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return nil, err
	}
	dst = protowire.AppendTag(dst, valueNumber, protowire.Fixed64Type)
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
}
