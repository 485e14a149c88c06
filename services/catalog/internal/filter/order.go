package filter

import (
	"fmt"
	"strings"
)

// Order sorts by the value of a search key. Field is lowercased, like the keys of Flatten.
type Order struct {
	Field string
	Desc  bool
}

// ParseOrder reads Backstage order parameters, each "asc:<field>" or "desc:<field>", in
// priority order.
func ParseOrder(params []string) ([]Order, error) {
	if len(params) > MaxOrderFields {
		return nil, errorf("order", "more than %d order fields", MaxOrderFields)
	}
	out := make([]Order, 0, len(params))
	for i, p := range params {
		field := fmt.Sprintf("order[%d]", i)
		dir, path, ok := strings.Cut(strings.TrimSpace(p), ":")
		if !ok || (dir != "asc" && dir != "desc") {
			return nil, errorf(field, "%q is not valid; expected asc:<field> or desc:<field>", p)
		}
		key, err := normalizeKey(strings.TrimSpace(path))
		if err != nil {
			err.Field = field
			return nil, err
		}
		out = append(out, Order{Field: key, Desc: dir == "desc"})
	}
	return out, nil
}

// NewOrder validates a field path (as from a Connect OrderField) and returns the Order. Like
// NormalizeKey it returns the concrete *Error: check it against nil before passing it on.
func NewOrder(field string, desc bool) (Order, *Error) {
	key, err := normalizeKey(strings.TrimSpace(field))
	if err != nil {
		err.Field = "order"
		return Order{}, err
	}
	return Order{Field: key, Desc: desc}, nil
}
