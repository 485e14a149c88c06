// Package lane gives a tenant's heavy catalog requests (bundle imports, large applies, costly
// filters, large pages and lookups, on Connect and on the REST API) a lane of their own: at most Config.PerTenant of one tenant's heavy
// requests run at once in this process, from the moment the handler starts until its response
// is written (encoding a 500-entity page costs as much CPU as its query). Cheap requests never
// wait for it. A heavy request over the lane waits up to Config.Wait, then is refused with
// ResourceExhausted.
//
// Why: tenantdb's cap bounds a tenant's transactions, but a heavy list spends as much time
// outside its transaction (turning rows into messages, compressing them) as inside. Eight
// heavy callers of one tenant kept both CPUs of a two-core box busy, and every goroutine of
// another tenant's cheap call queued behind them for the scheduler's 10 ms time slices.
package lane

import (
	"context"
	"net/http"
	"sync"
	"time"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/filter"
	"connectrpc.com/connect"
)

// Config tunes the lanes.
type Config struct {
	// PerTenant is how many heavy requests of one tenant run at once (0: DefaultPerTenant;
	// negative: no lane).
	PerTenant int
	// Wait is how long a heavy request waits for the lane (0: DefaultWait).
	Wait time.Duration
}

// Defaults: one heavy request per tenant at a time; the rest queue for up to 5 s.
const (
	DefaultPerTenant = 1
	DefaultWait      = 5 * time.Second
)

// What makes a request heavy (see Heavy).
const (
	// HeavyPageSize: a list asking for more entities than this is heavy (the default page
	// is 100).
	HeavyPageSize = 100
	// HeavyFilterCost: a filter compiling to more search subqueries than this is heavy
	// (the most allowed is filter.MaxSubqueries).
	HeavyFilterCost = 2
	// HeavyApply: applying more documents than this at once is heavy.
	HeavyApply = 50
	// HeavyRefs: looking up more refs than this at once is heavy.
	HeavyRefs = 100
)

// HeavyList reports whether a list of limit entities whose filter needs subqueries search
// subqueries is heavy: the REST API's lists (Backstage's by-query and entities) are judged
// by it as Heavy judges ListEntities.
func HeavyList(limit, subqueries int) bool {
	return limit > HeavyPageSize || subqueries > HeavyFilterCost
}

// Heavy reports whether a catalog request is in the heavy class.
func Heavy(msg any) bool {
	switch m := msg.(type) {
	case *catalogv1.ImportBundleRequest:
		return true
	case *catalogv1.ApplyEntitiesRequest:
		return len(m.GetYamlDocuments()) > HeavyApply
	case *catalogv1.ListEntitiesRequest:
		if HeavyList(int(m.GetPageSize()), 0) {
			return true
		}
		node, err := filter.Parse(m.GetFilter())
		// A filter that does not parse is refused by the handler before any query.
		return err == nil && HeavyList(0, filter.Cost(filter.Simplify(node)))
	case *catalogv1.GetEntitiesByRefsRequest:
		return len(m.GetRefs()) > HeavyRefs
	case *catalogv1.GetEntityFacetsRequest:
		return len(m.GetFacets()) > 1
	}
	return false
}

// Lanes is safe for concurrent use.
type Lanes struct {
	per  int
	wait time.Duration
	mu   sync.Mutex
	sems map[string]*sem
}

type sem struct {
	ch    chan struct{}
	users int // holding or waiting; the entry goes when it drops to 0
}

// New returns the lanes.
func New(cfg Config) *Lanes {
	l := &Lanes{per: cfg.PerTenant, wait: cfg.Wait, sems: map[string]*sem{}}
	if l.per == 0 {
		l.per = DefaultPerTenant
	}
	if l.wait <= 0 {
		l.wait = DefaultWait
	}
	return l
}

// Acquire takes one place in the tenant's heavy lane; the returned func gives it back.
func (l *Lanes) Acquire(ctx context.Context, tenantID string) (func(), error) {
	if l.per < 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	s := l.sems[tenantID]
	if s == nil {
		s = &sem{ch: make(chan struct{}, l.per)}
		l.sems[tenantID] = s
	}
	s.users++
	l.mu.Unlock()
	leave := func() {
		l.mu.Lock()
		if s.users--; s.users == 0 {
			delete(l.sems, tenantID)
		}
		l.mu.Unlock()
	}
	var once sync.Once
	release := func() { once.Do(func() { <-s.ch; leave() }) }
	select {
	case s.ch <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return release, nil
	case <-t.C:
		leave()
		return nil, rpcerr.ResourceExhausted(time.Second, "too many heavy catalog requests (imports, large pages, costly filters) for this organization at once; retry shortly")
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// holder carries a request's release to Hold, which runs it once the response is written.
type holder struct {
	mu       sync.Mutex
	releases []func()
}

type holderKey struct{}

// Hold wraps the service's handler so that a heavy request keeps its place in the lane until
// its response has been written, not only until its handler returned.
func Hold(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := &holder{}
		defer func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, f := range h.releases {
				f()
			}
		}()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), holderKey{}, h)))
	})
}

// Interceptor puts heavy unary requests of tenant identities in their tenant's lane. It runs
// after the internal token is verified (the identity is in the context).
func (l *Lanes) Interceptor() connect.Interceptor { return interceptor{l} }

type interceptor struct{ l *Lanes }

func (i interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		id, ok := authn.FromContext(ctx)
		if !ok || !id.HasTenant() || !Heavy(req.Any()) {
			return next(ctx, req)
		}
		release, err := i.l.Acquire(ctx, id.TenantID)
		if err != nil {
			return nil, err
		}
		if h, ok := ctx.Value(holderKey{}).(*holder); ok {
			h.mu.Lock()
			h.releases = append(h.releases, release)
			h.mu.Unlock()
		} else {
			defer release()
		}
		return next(ctx, req)
	}
}

func (interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
