package rest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/services/catalog/internal/service"
)

// WebhookPrefix is where push webhooks arrive (the gateway maps
// /webhooks/git/{tenant}/{location} here, with the tenant in the internal token).
const WebhookPrefix = "/webhooks/git/"

// maxWebhookBytes bounds a push payload (GitHub's are at most 25 MB; the catalog needs none
// of it but the signature check reads it all).
const maxWebhookBytes = 1 << 20

// Webhook serves POST /webhooks/git/{location id}: a push signed with the Location's secret
// (X-Hub-Signature-256) refreshes the Location at once. The answer never says whether a
// Location exists: an unsigned or wrongly signed call is 401 either way.
type Webhook struct {
	src      *service.Sources
	verifier *authn.InternalVerifier
	log      *slog.Logger
	kick     func(schema, id string)
	// slots bounds refreshes started by webhooks in this process; past it the worker is
	// asked to refresh instead.
	slots chan struct{}
}

// NewWebhook returns the handler; kick makes a Location due in the worker.
func NewWebhook(src *service.Sources, verifier *authn.InternalVerifier, log *slog.Logger, kick func(schema, id string)) *Webhook {
	if log == nil {
		log = slog.Default()
	}
	return &Webhook{src: src, verifier: verifier, log: log, kick: kick, slots: make(chan struct{}, 4)}
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
		return
	}
	id, err := guard.Authenticate(h.verifier, r.Header) // the request id in its header
	if err != nil || !id.HasTenant() {
		http.Error(w, `{"error":"unauthenticated"}`, http.StatusUnauthorized)
		return
	}
	loc := strings.Trim(strings.TrimPrefix(r.URL.Path, WebhookPrefix), "/")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBytes+1))
	if err != nil || len(body) > maxWebhookBytes {
		http.Error(w, `{"error":"payload too large"}`, http.StatusRequestEntityTooLarge)
		return
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if h.src.Secrets() == nil || !h.src.Secrets().VerifyWebhook(id.TenantID, loc, sig, body) {
		http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if ev := r.Header.Get("X-GitHub-Event"); ev == "ping" {
		_, _ = w.Write([]byte(`{"status":"pong"}` + "\n"))
		return
	}
	ctx := authn.WithIdentity(context.WithoutCancel(r.Context()), &authn.Identity{
		TenantID: id.TenantID, TenantSlug: id.TenantSlug, Schema: id.Schema, Shard: id.Shard, Service: "catalog-webhook", RequestID: id.RequestID,
	})
	select {
	case h.slots <- struct{}{}:
		go func() {
			defer func() { <-h.slots }()
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if _, err := h.src.Refresh(ctx, loc, false); err != nil {
				h.log.InfoContext(ctx, "webhook refresh failed", "location", loc, "err", err)
			}
		}()
	default:
		h.kick(id.Schema, loc)
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"accepted"}` + "\n"))
}
