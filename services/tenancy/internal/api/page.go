package api

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/store"
)

// Page sizes: 0 asks for the default, anything above the maximum gets the maximum.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

func pageSize(n int32, v *rpcerr.Violations) int {
	switch {
	case n < 0:
		v.Add("page_size", "must not be negative")
		return 0
	case n == 0:
		return defaultPageSize
	case n > maxPageSize:
		return maxPageSize
	}
	return int(n)
}

// A page token is opaque to clients: base64 of a small JSON object naming the last item.
type pageToken struct {
	At  time.Time `json:"t,omitzero"`
	ID  string    `json:"i,omitempty"`
	Seq int64     `json:"s,omitempty"`
}

func encodePage(p pageToken) string {
	b, _ := json.Marshal(p) // a struct of plain fields always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePage(s string, v *rpcerr.Violations) *pageToken {
	if s == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var p pageToken
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || (p.ID == "" && p.Seq == 0) {
		v.Add("page_token", "is not a page token from a previous response")
		return nil
	}
	return &p
}

func (p *pageToken) cursor() *store.Cursor {
	if p == nil {
		return nil
	}
	return &store.Cursor{At: p.At, ID: p.ID}
}
