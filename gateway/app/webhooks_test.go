package app_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"atrium.dev/gateway/app"
)

// POST /webhooks/stripe reaches billing without any user credential, carrying no identity of
// the gateway's or the client's; bodies past the limit never reach it; other methods are not
// routed.
func TestStripeWebhookRoute(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []http.Header
	var bodies []string
	billing := startH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Clone())
		bodies = append(bodies, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	s := newStack(t, func(c *app.Config) {
		c.Webhooks = map[string]string{app.StripeWebhookPath: billing.URL}
		c.WebhookBodyLimit = 1024
	})
	post := func(body string, h map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, s.server.URL+"/webhooks/stripe", strings.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		name string
		body string
		hdr  map[string]string
		want int
	}{
		{"delivery", `{"id":"evt_1"}`, map[string]string{"Stripe-Signature": "t=1,v1=abc",
			"Authorization": "Bearer stolen", "Atrium-Internal-Token": "forged", "Atrium-Tenant": "acme"}, 200},
		{"oversized", strings.Repeat("x", 2048), nil, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		if code := post(tc.body, tc.hdr); code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.want)
		}
	}
	// Chunked (no Content-Length) oversized bodies are cut while streaming.
	req, _ := http.NewRequest(http.MethodPost, s.server.URL+"/webhooks/stripe", io.MultiReader(bytes.NewReader(make([]byte, 4096))))
	req.ContentLength = -1
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized: %v %v", resp.StatusCode, err)
	}
	if resp, err := http.Get(s.server.URL + "/webhooks/stripe"); err != nil || resp.StatusCode == 200 {
		t.Errorf("GET routed: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) < 1 || bodies[0] != `POST /webhooks/stripe {"id":"evt_1"}` {
		t.Fatalf("billing saw %q", bodies)
	}
	h := got[0]
	if h.Get("Stripe-Signature") != "t=1,v1=abc" {
		t.Error("signature header not forwarded")
	}
	for _, k := range []string{"Authorization", "Atrium-Internal-Token", "Atrium-Tenant"} {
		if h.Get(k) != "" {
			t.Errorf("%s forwarded to billing: %q", k, h.Get(k))
		}
	}
}
