// Package service implements InsightsService (Track and the premium queries),
// InsightsOperatorService and ProvisioningService.
package service

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"sync"
	"time"

	insightsv1 "atrium.dev/gen/atrium/insights/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/insights/internal/event"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// Track's bounds (insights.proto).
const (
	MaxTrackEvents = 100
	MaxTrackBytes  = 64 << 10
	MaxAhead       = 5 * time.Minute
	MaxBehind      = 35 * 24 * time.Hour
	maxText        = 512
	maxAttrs       = 32
)

var (
	eventIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	actions   = map[string]bool{"navigate": true, "search": true, "create": true, "click": true, "discover": true, "view": true}
)

// Producer queues Track events on the usage stream.
type Producer struct {
	Redis  *redis.Client
	Stream string
	MaxLen int64
	// Rate and Burst: Track calls per second per tenant in this process.
	Rate  float64
	Burst float64
	Now   func() time.Time

	mu       sync.Mutex
	limiters map[string]*bucket
}

// bucket is a token bucket (a tenant's Track budget in this process).
type bucket struct {
	tokens float64
	at     time.Time
}

func (p *Producer) allow(tenantID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limiters == nil || len(p.limiters) > 100_000 {
		// Bounded memory: a process seeing very many tenants starts afresh.
		p.limiters = map[string]*bucket{}
	}
	now := p.Now()
	b, ok := p.limiters[tenantID]
	if !ok {
		b = &bucket{tokens: p.Burst, at: now}
		p.limiters[tenantID] = b
	}
	b.tokens = min(p.Burst, b.tokens+now.Sub(b.at).Seconds()*p.Rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// validate checks a Track batch; every problem is a field violation, and an invalid batch
// is refused whole, so nothing of it is stored.
func validate(req *insightsv1.TrackRequest, now time.Time) error {
	var vs rpcerr.Violations
	evs := req.GetEvents()
	switch {
	case len(evs) == 0:
		vs.Add("events", "must hold at least one event")
	case len(evs) > MaxTrackEvents:
		vs.Addf("events", "at most %d events per batch, got %d", MaxTrackEvents, len(evs))
	}
	if n := proto.Size(req); n > MaxTrackBytes {
		vs.Addf("events", "batch is %d bytes, at most %d", n, MaxTrackBytes)
	}
	if vs.Len() > 0 {
		return vs.Err()
	}
	seen := map[string]bool{}
	for i, e := range evs {
		f := func(name string) string { return "events[" + itoa(i) + "]." + name }
		switch {
		case !eventIDRE.MatchString(e.GetId()):
			vs.Add(f("id"), "must be 1 to 64 of A-Z a-z 0-9 . _ : -")
		case seen[e.GetId()]:
			vs.Add(f("id"), "repeats an earlier event's id")
		}
		seen[e.GetId()] = true
		if e.GetTime() == nil {
			vs.Add(f("time"), "is required")
		} else if err := e.GetTime().CheckValid(); err != nil {
			vs.Add(f("time"), "is not a valid timestamp")
		} else {
			t := e.GetTime().AsTime()
			if t.After(now.Add(MaxAhead)) {
				vs.Add(f("time"), "is more than 5 minutes in the future")
			}
			if t.Before(now.Add(-MaxBehind)) {
				vs.Add(f("time"), "is more than 35 days in the past")
			}
		}
		if !actions[e.GetAction()] {
			vs.Add(f("action"), "must be one of navigate, search, create, click, discover, view")
		}
		if len(e.GetSubject()) > maxText {
			vs.Addf(f("subject"), "at most %d bytes", maxText)
		}
		if e.Value != nil && (math.IsNaN(e.GetValue()) || math.IsInf(e.GetValue(), 0)) {
			vs.Add(f("value"), "must be a finite number")
		}
		if e.GetAction() == "search" && e.Value != nil && e.GetValue() < 0 {
			vs.Add(f("value"), "a search's result count cannot be negative")
		}
		if len(e.GetAttributes()) > maxAttrs {
			vs.Addf(f("attributes"), "at most %d attributes", maxAttrs)
		}
		for k, v := range e.GetAttributes() {
			if k == "" || len(k) > 64 || len(v) > maxText {
				vs.Add(f("attributes"), "keys must be 1 to 64 bytes, values at most 512")
				break
			}
		}
		c := e.GetContext()
		for name, v := range map[string]string{"plugin_id": c.GetPluginId(), "route_ref": c.GetRouteRef(), "extension": c.GetExtension(), "entity_ref": c.GetEntityRef()} {
			if len(v) > maxText {
				vs.Addf(f("context."+name), "at most %d bytes", maxText)
			}
		}
	}
	return vs.Err()
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// Track validates the batch and queues it on the usage stream; the pipeline writes it.
func (s *Insights) Track(ctx context.Context, req *connect.Request[insightsv1.TrackRequest]) (*connect.Response[insightsv1.TrackResponse], error) {
	id, ok := authn.FromContext(ctx)
	if !ok || !id.HasTenant() {
		return nil, rpcerr.PermissionDenied("Track needs a tenant")
	}
	p := s.producer
	now := p.Now()
	if err := validate(req.Msg, now); err != nil {
		return nil, err
	}
	if !p.allow(id.TenantID) {
		return nil, rpcerr.ResourceExhausted(time.Second, "too many Track calls for this tenant; retry shortly")
	}
	user, kind := id.UserID, "user"
	if id.TokenID != "" {
		user, kind = id.TokenID, "api_token"
	}
	_, err := p.Redis.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for _, e := range req.Msg.GetEvents() {
			attrs := ""
			if len(e.GetAttributes()) > 0 {
				b, _ := json.Marshal(e.GetAttributes())
				attrs = string(b)
			}
			c := e.GetContext()
			var v *float64
			if e.Value != nil {
				x := e.GetValue()
				v = &x
			}
			// The client's id, namespaced so it can never collide with a gateway event id.
			pl.XAdd(ctx, &redis.XAddArgs{
				Stream: p.Stream, MaxLen: p.MaxLen, Approx: true,
				Values: event.TrackFields("t:"+e.GetId(), e.GetTime().AsTime(), id.TenantID, id.Shard, user, kind,
					e.GetAction(), e.GetSubject(), v, c.GetPluginId(), c.GetEntityRef(), attrs),
			})
		}
		return nil
	})
	if err != nil {
		// Some events may be queued: the client retries the batch, and their ids dedup.
		return nil, rpcerr.Unavailable("cannot queue events; retry").WithCause(err)
	}
	return connect.NewResponse(&insightsv1.TrackResponse{Accepted: int32(len(req.Msg.GetEvents()))}), nil
}
