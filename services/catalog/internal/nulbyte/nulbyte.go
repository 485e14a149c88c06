// Package nulbyte finds NUL bytes in request strings. Postgres text and jsonb cannot hold U+0000,
// so a NUL that reached a query failed there as an internal error; the catalog refuses it
// up front instead, naming the field, on the Connect API (Interceptor) and the REST API
// (Value).
package nulbyte

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// Description is the violation's text.
const Description = "holds a NUL byte"

// In reports whether s holds a NUL byte.
func In(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// Value returns the path of the first string (or map key) holding a NUL in a decoded JSON or
// YAML value, under path; "" when there is none. Map keys are visited in no fixed order.
func Value(v any, path string) string {
	switch x := v.(type) {
	case string:
		if In(x) {
			return path
		}
	case map[string]any:
		for k, item := range x {
			if In(k) {
				return path + "[" + strconv.Quote(k) + "]"
			}
			if p := Value(item, join(path, k)); p != "" {
				return p
			}
		}
	case []any:
		for i, item := range x {
			if p := Value(item, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Message returns the field path (proto names: "filter[1]", `files["a.yaml"]`,
// "entities[0].metadata.name" inside a Struct) of the first string holding a NUL.
func Message(m protoreflect.Message) string {
	if s, ok := m.Interface().(*structpb.Struct); ok {
		return structFields(s, "") // walked in place: AsMap would copy megabytes of entities
	}
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && found == ""; i++ {
				found = scalar(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				key := k.String()
				sub := name + "[" + strconv.Quote(key) + "]"
				if In(key) {
					found = sub
				} else {
					found = scalar(fd.MapValue(), mv, sub)
				}
				return found == ""
			})
		default:
			found = scalar(fd, v, name)
		}
		return found == ""
	})
	return found
}

func structFields(s *structpb.Struct, path string) string {
	for key, v := range s.GetFields() {
		if In(key) {
			return path + "[" + strconv.Quote(key) + "]"
		}
		if p := structValue(v, join(path, key)); p != "" {
			return p
		}
	}
	return ""
}

func structValue(v *structpb.Value, path string) string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		if In(k.StringValue) {
			return path
		}
	case *structpb.Value_StructValue:
		return structFields(k.StructValue, path)
	case *structpb.Value_ListValue:
		for i, item := range k.ListValue.GetValues() {
			if p := structValue(item, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if In(v.String()) {
			return path
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if sub := Message(v.Message()); sub != "" {
			if strings.HasPrefix(sub, "[") {
				return path + sub
			}
			return path + "." + sub
		}
	}
	return ""
}

// Interceptor refuses unary requests holding a NUL in any string with InvalidArgument.
type Interceptor struct{}

func (Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if m, ok := req.Any().(interface{ ProtoReflect() protoreflect.Message }); ok {
			if field := Message(m.ProtoReflect()); field != "" {
				return nil, rpcerr.InvalidField(field, Description)
			}
		}
		return next(ctx, req)
	}
}

func (Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
