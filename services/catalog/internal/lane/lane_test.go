package lane

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/platform/rpcerr"
)

func TestHeavy(t *testing.T) {
	for _, tt := range []struct {
		name string
		msg  any
		want bool
	}{
		{"plain page", &catalogv1.ListEntitiesRequest{Filter: []string{"kind=component"}, PageSize: 50}, false},
		{"large page", &catalogv1.ListEntitiesRequest{PageSize: 500}, true},
		{"costly filter", &catalogv1.ListEntitiesRequest{Filter: []string{"spec.type", "spec.owner"}}, true},
		{"bad filter", &catalogv1.ListEntitiesRequest{Filter: []string{"=x"}}, false},
		{"bundle", &catalogv1.ImportBundleRequest{}, true},
		{"small apply", &catalogv1.ApplyEntitiesRequest{YamlDocuments: make([]string, 3)}, false},
		{"large apply", &catalogv1.ApplyEntitiesRequest{YamlDocuments: make([]string, 200)}, true},
		{"one entity", &catalogv1.GetEntityByRefRequest{}, false},
		{"few refs", &catalogv1.GetEntitiesByRefsRequest{Refs: make([]string, 100)}, false},
		{"many refs", &catalogv1.GetEntitiesByRefsRequest{Refs: make([]string, 101)}, true},
	} {
		if got := Heavy(tt.msg); got != tt.want {
			t.Errorf("%s: Heavy = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLane: one heavy request per tenant at a time; the next waits, then is refused; another
// tenant's lane is its own; a place is held until Hold's handler has returned.
func TestLane(t *testing.T) {
	l := New(Config{PerTenant: 1, Wait: 100 * time.Millisecond})
	ctx := context.Background()
	release, err := l.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, "a"); rpcerr.KindOf(err) != rpcerr.KindResourceExhausted {
		t.Fatalf("second heavy request of a: %v, want ResourceExhausted", err)
	}
	rb, err := l.Acquire(ctx, "b")
	if err != nil {
		t.Fatalf("b's lane while a's is full: %v", err)
	}
	rb()
	done := make(chan error)
	go func() {
		r, err := l.Acquire(ctx, "a")
		if err == nil {
			r()
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	release()
	release() // a second call is a no-op
	if err := <-done; err != nil {
		t.Fatalf("a waiting for its lane: %v", err)
	}

	// Through Hold: the place is given back after the handler, response written.
	var inHandler bool
	h := Hold(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel, err := l.Acquire(r.Context(), "a")
		if err != nil {
			t.Error(err)
			return
		}
		h := r.Context().Value(holderKey{}).(*holder)
		h.releases = append(h.releases, rel)
		_, err = l.Acquire(r.Context(), "a")
		inHandler = rpcerr.KindOf(err) == rpcerr.KindResourceExhausted
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil))
	if !inHandler {
		t.Fatal("the lane was free inside the handler")
	}
	r, err := l.Acquire(ctx, "a")
	if err != nil {
		t.Fatalf("after the handler: %v", err)
	}
	r()
	if len(l.sems) != 0 {
		t.Fatalf("%d lanes left with nothing in them", len(l.sems))
	}
}
