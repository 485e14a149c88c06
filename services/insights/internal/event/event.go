// Package event is the usage event as it travels on the Redis stream (RedisPrefix +
// "atrium:usage") and as the store writes it: the gateway's per-request events (source
// "request", written by gateway/internal/usage) and the portal's Track events (source
// "track", written by the insights service). Both carry a producer-assigned id, the dedup key.
package event

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Sources.
const (
	SourceRequest = 1
	SourceTrack   = 2
)

// User kinds, as stored (smallint) and as the gateway names them.
const (
	KindAnonymous = 0
	KindUser      = 1
	KindAPIToken  = 2
	KindOperator  = 3
)

// Dimensions an event counts in besides activity and its plugin (insights_counts.dim).
const (
	DimNone     = 0
	DimPlugin   = 1 // key: plugin id; n2: errors
	DimEntity   = 2 // key: entity ref
	DimSearch   = 3 // key: term; n2: searches that found nothing
	DimTemplate = 4 // key: template ref
	DimDoc      = 5 // key: doc entity ref
)

// Event is one usage event.
type Event struct {
	ID       string
	Source   int16
	Time     time.Time
	TenantID string
	// Shard is the producer's view of the tenant's shard (a hint; the pipeline may resolve).
	Shard    string
	User     string
	Kind     int16
	Plugin   string
	Action   string // procedure for requests, action for Track
	Subject  string
	Code     string
	Duration int32 // microseconds, requests only
	Value    *float64
	Dim      int16
	DimKey   string
	Attrs    string // JSON object or ""
}

// UserKey is the user's key in the rollups ("u:<id>", "k:<token id>", "o:<id>"), or "" for
// anonymous events, which count as activity of nobody.
func (e *Event) UserKey() string {
	if e.User == "" {
		return ""
	}
	switch e.Kind {
	case KindUser:
		return "u:" + e.User
	case KindAPIToken:
		return "k:" + e.User
	case KindOperator:
		return "o:" + e.User
	}
	return ""
}

// Day is the event's UTC day.
func (e *Event) Day() time.Time {
	t := e.Time.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func kindOf(s string) int16 {
	switch s {
	case "user":
		return KindUser
	case "api_token":
		return KindAPIToken
	case "operator":
		return KindOperator
	}
	return KindAnonymous
}

// KindName is the gateway's name of a kind.
func KindName(k int16) string {
	switch k {
	case KindUser:
		return "user"
	case KindAPIToken:
		return "api_token"
	case KindOperator:
		return "operator"
	}
	return "anonymous"
}

// ErrMalformed marks an entry that can never be ingested (acknowledged and counted).
var ErrMalformed = errors.New("event: malformed stream entry")

// Parse reads a stream entry's fields.
func Parse(v map[string]any) (Event, error) {
	s := func(k string) string { x, _ := v[k].(string); return x }
	e := Event{ID: s("id"), TenantID: s("tenant"), Shard: s("shard"), User: s("user"), Kind: kindOf(s("user_kind")),
		Plugin: s("plugin"), Code: s("code"), Attrs: s("attrs")}
	if e.ID == "" {
		return e, ErrMalformed
	}
	ms, err := strconv.ParseInt(s("time"), 10, 64)
	if err != nil {
		return e, ErrMalformed
	}
	e.Time = time.UnixMilli(ms).UTC()
	switch s("source") {
	case "request", "":
		// Entries written before the source field existed are requests.
		e.Source = SourceRequest
		e.Action = s("procedure")
		if d, err := strconv.ParseInt(s("duration_us"), 10, 32); err == nil {
			e.Duration = int32(d)
		}
		e.Dim = DimNone
	case "track":
		e.Source = SourceTrack
		e.Action, e.Subject = s("action"), s("subject")
		if x := s("value"); x != "" {
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return e, ErrMalformed
			}
			e.Value = &f
		}
		e.Dim, e.DimKey = Classify(e.Action, e.Subject, e.Plugin, s("entity_ref"))
		if e.Attrs == "" {
			e.Attrs = ""
		}
	default:
		return e, ErrMalformed
	}
	return e, nil
}

// Classify says which top list a Track event counts in (see insights.proto's TrackEvent).
func Classify(action, subject, plugin, entityRef string) (int16, string) {
	switch action {
	case "navigate", "view":
		switch {
		case entityRef != "" && plugin == "techdocs":
			return DimDoc, strings.ToLower(entityRef)
		case entityRef != "":
			return DimEntity, strings.ToLower(entityRef)
		}
	case "search":
		if t := strings.ToLower(strings.TrimSpace(subject)); t != "" {
			return DimSearch, t
		}
	case "create":
		switch {
		case entityRef != "":
			return DimTemplate, strings.ToLower(entityRef)
		case subject != "":
			return DimTemplate, strings.ToLower(subject)
		}
	}
	return DimNone, ""
}

// TrackFields are the stream fields of a Track event (the Track handler writes them).
func TrackFields(id string, t time.Time, tenant, shard, user, kind, action, subject string, value *float64, plugin, entityRef, attrs string) []string {
	f := []string{
		"id", id, "source", "track", "time", strconv.FormatInt(t.UnixMilli(), 10),
		"tenant", tenant, "shard", shard, "user", user, "user_kind", kind,
		"plugin", plugin, "action", action, "subject", subject, "entity_ref", entityRef,
	}
	if value != nil {
		f = append(f, "value", strconv.FormatFloat(*value, 'g', -1, 64))
	}
	if attrs != "" {
		f = append(f, "attrs", attrs)
	}
	return f
}
