// Package query turns the catalog's list parameters, from Connect requests and from
// Backstage's REST API alike, into store queries, and pages into opaque page tokens. A token
// carries the whole query (filter, predicate, term, order) with the keyset position, so a
// client continues with the token alone, as Backstage's cursor works.
package query

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/store"
	"github.com/google/uuid"
)

// Limits shared by every listing.
const (
	MaxPageSize     = 500
	DefaultPageSize = 100
	// MaxTokenBytes bounds a page token (it holds the query).
	MaxTokenBytes = 16 << 10
	// MaxTermLength bounds a full-text term.
	MaxTermLength = 200
)

// Order is one order field as a client gives it.
type Order struct {
	Field string `json:"f"`
	Desc  bool   `json:"d,omitempty"`
}

// Spec is what selects and orders entities; equal specs list the same entities.
type Spec struct {
	Filter    []string        `json:"f,omitempty"`
	Predicate json.RawMessage `json:"p,omitempty"`
	FullText  string          `json:"t,omitempty"`
	Order     []Order         `json:"o,omitempty"`
	// Backstage selects Backstage's by-query semantics (the REST API): entities lacking an
	// order field are left out (Backstage joins the search row of the sort key), and the
	// full-text term is a substring match over TextFields, else over the first order
	// field, else over metadata.uid, instead of Atrium's word search over name, title,
	// description and tags (which the Connect API and the portal keep: it finds more).
	Backstage  bool     `json:"b,omitempty"`
	TextFields []string `json:"tf,omitempty"`
}

// IsZero reports whether the spec selects everything in the default order.
func (s Spec) IsZero() bool {
	return len(s.Filter) == 0 && len(s.Predicate) == 0 && s.FullText == "" && len(s.Order) == 0 &&
		len(s.TextFields) == 0
}

// Equal compares two specs.
func (s Spec) Equal(o Spec) bool {
	return slices.Equal(s.Filter, o.Filter) && string(s.Predicate) == string(o.Predicate) &&
		s.FullText == o.FullText && slices.Equal(s.Order, o.Order) &&
		s.Backstage == o.Backstage && slices.Equal(s.TextFields, o.TextFields)
}

// Compiled is a validated spec.
type Compiled struct {
	Filter   store.Expr
	FullText string
	Order    []store.Order
}

// Compile validates the spec. Problems are InvalidArgument violations named with the given
// field names ("filter", "order", "query" ...).
func (s Spec) Compile() (Compiled, error) {
	var c Compiled
	if len(s.Filter) > 0 && len(s.Predicate) > 0 {
		return c, rpcerr.InvalidField("query", "give either filter or a query predicate, not both")
	}
	node, err := filter.Parse(s.Filter)
	if err != nil {
		return c, asInvalid(err)
	}
	c.Filter = store.FromFilter(filter.Simplify(node)) // what the budget counted
	if len(s.Predicate) > 0 {
		c.Filter, err = ParsePredicate(s.Predicate)
		if err != nil {
			return c, err
		}
		// The same budget as filter sets: a predicate compiles to the same subqueries.
		if n := store.Subqueries(c.Filter); n > filter.MaxSubqueries {
			return c, rpcerr.InvalidField("query", fmt.Sprintf("the query is too costly: it needs %d subqueries, at most %d (use fewer or shorter keys; each dot of an $exists key adds one)", n, filter.MaxSubqueries))
		}
	}
	if strings.IndexByte(s.FullText, 0) >= 0 {
		return c, rpcerr.InvalidField("full_text_term", "holds a NUL byte")
	}
	if len(s.FullText) > MaxTermLength {
		return c, rpcerr.InvalidField("full_text_term", fmt.Sprintf("at most %d characters", MaxTermLength))
	}
	c.FullText = s.FullText
	if len(s.Order) > filter.MaxOrderFields {
		return c, rpcerr.InvalidField("order", fmt.Sprintf("at most %d order fields", filter.MaxOrderFields))
	}
	for i, o := range s.Order {
		fo, ferr := filter.NewOrder(o.Field, o.Desc)
		if ferr != nil {
			return c, rpcerr.InvalidField(fmt.Sprintf("order[%d].field", i), ferr.Description)
		}
		c.Order = append(c.Order, store.Order{Field: fo.Field, Desc: fo.Desc})
	}
	if s.Backstage {
		if err := s.backstage(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// maxTextFields bounds fullTextFilterFields.
const maxTextFields = 20

// backstage rewrites a compiled spec to Backstage's by-query semantics (see Spec.Backstage).
func (s Spec) backstage(c *Compiled) error {
	var extra store.And
	for _, o := range c.Order {
		if !store.IsColumnKey(o.Field) {
			extra = append(extra, store.Match{Key: o.Field})
		}
	}
	if len(s.TextFields) > maxTextFields {
		return rpcerr.InvalidField("fullTextFilterFields", fmt.Sprintf("at most %d fields", maxTextFields))
	}
	if term := strings.TrimSpace(c.FullText); term != "" {
		fields := s.TextFields
		if len(fields) == 0 {
			fields = []string{"metadata.uid"}
			if len(c.Order) > 0 {
				fields = []string{c.Order[0].Field}
			}
		}
		var any store.Or
		for i, f := range fields {
			key, ferr := filter.NormalizeKey(f)
			if ferr != nil {
				return rpcerr.InvalidField(fmt.Sprintf("fullTextFilterFields[%d]", i), ferr.Description)
			}
			any = append(any, store.Match{Key: key, Contains: term})
		}
		extra = append(extra, any)
	}
	c.FullText = ""
	if len(extra) > 0 {
		if c.Filter != nil {
			extra = append(store.And{c.Filter}, extra...)
		}
		c.Filter = extra
	}
	return nil
}

// asInvalid turns a filter package error into InvalidArgument.
func asInvalid(err error) error {
	var fe *filter.Error
	if errors.As(err, &fe) {
		return rpcerr.InvalidField(fe.Field, fe.Description)
	}
	return err
}

// Fields parses a projection.
func Fields(params []string) (filter.Projection, error) {
	p, err := filter.ParseFields(params)
	if err != nil {
		return p, asInvalid(err)
	}
	return p, nil
}

// Token is a page token's content.
type Token struct {
	Spec Spec           `json:"s"`
	Pos  store.Position `json:"k"`
	// Back is set on a token for the previous page.
	Back bool `json:"b,omitempty"`
}

// Encode makes an opaque token.
func (t Token) Encode() string {
	b, _ := json.Marshal(t) // plain data: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken reads a token; field names the parameter in the violation.
func DecodeToken(field, s string) (Token, error) {
	var t Token
	if len(s) > MaxTokenBytes {
		return t, rpcerr.InvalidField(field, "is too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil && bytes.Contains(b, []byte(`\u0000`)) {
		// Tokens are ours: Encode never writes a NUL, and one in a position would reach SQL.
		err = errors.New("NUL in token")
	}
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err == nil {
		_, err = uuid.Parse(t.Pos.UID)
	}
	if err != nil {
		return Token{}, rpcerr.InvalidField(field, "is not a valid page token")
	}
	return t, nil
}

// Request is a list request in neutral form.
type Request struct {
	Spec Spec
	// Token continues a listing ("" for the first page). Its spec wins; Spec must then be
	// empty or equal to it.
	Token      string
	TokenField string
	Limit      int
	Offset     int
	SkipTotal  bool
	// Encoded says the page's entities are read only through store.EncodePage (store.Query's
	// Encoded).
	Encoded bool
}

// Result is a page with tokens for its neighbours ("" when none).
type Result struct {
	Page       store.Page
	Next, Prev string
}

// Build compiles a request into a store query and returns the spec in force.
func Build(r Request) (store.Query, Spec, error) {
	spec := r.Spec
	var tok *Token
	if r.Token != "" {
		t, err := DecodeToken(r.TokenField, r.Token)
		if err != nil {
			return store.Query{}, spec, err
		}
		if !spec.IsZero() && !spec.Equal(t.Spec) {
			return store.Query{}, spec, rpcerr.InvalidField(r.TokenField, "belongs to a different query (filter, term or order changed)")
		}
		spec, tok = t.Spec, &t
	}
	c, err := spec.Compile()
	if err != nil {
		return store.Query{}, spec, err
	}
	q := store.Query{Filter: c.Filter, FullText: c.FullText, Order: c.Order, Limit: r.Limit, SkipTotal: r.SkipTotal, Encoded: r.Encoded}
	if tok != nil {
		pos := tok.Pos
		if tok.Back {
			q.Before = &pos
		} else {
			q.After = &pos
		}
	} else {
		q.Offset = r.Offset
	}
	return q, spec, nil
}

// Tokens makes the tokens of a page's neighbours.
func Tokens(spec Spec, p store.Page) (next, prev string) {
	if p.Next != nil {
		next = Token{Spec: spec, Pos: *p.Next}.Encode()
	}
	if p.Prev != nil {
		prev = Token{Spec: spec, Pos: *p.Prev, Back: true}.Encode()
	}
	return next, prev
}

// List builds a request and runs it on st.
func List(ctx context.Context, st *store.Store, r Request) (store.Page, Spec, error) {
	q, spec, err := Build(r)
	if err != nil {
		return store.Page{Total: -1}, spec, err
	}
	p, err := Run(ctx, st, q, r.TokenField)
	return p, spec, err
}

// Run runs a built request on st; tokenField names the page token in its errors.
func Run(ctx context.Context, st *store.Store, q store.Query, tokenField string) (store.Page, error) {
	p, err := st.List(ctx, q)
	if errors.Is(err, store.ErrBadPosition) {
		return p, rpcerr.InvalidField(tokenField, "is not a valid page token")
	}
	return p, err
}
