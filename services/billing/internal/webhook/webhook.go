// Package webhook serves POST /webhooks/stripe: size limit, signature, then the engine. The
// status codes are Stripe's retry protocol: 2xx stops retries (applied, duplicate, stale,
// unknown type, or a permanent failure recorded in the ledger), 5xx asks for a retry
// (transient failure, nothing recorded), 4xx is for requests that are not Stripe's at all
// (bad signature, malformed, too large) and so are never recorded.
package webhook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"atrium.dev/services/billing/internal/engine"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// Path is where Stripe delivers events (through the gateway).
const Path = "/webhooks/stripe"

// Defaults.
const (
	// DefaultBodyLimit: Stripe's events are a few KiB; a subscription with many items stays
	// well under this.
	DefaultBodyLimit = 256 << 10
	// Tolerance is how old a signature timestamp may be (Stripe's recommendation), which
	// bounds replays of a captured request.
	Tolerance = 5 * time.Minute
)

// Handler verifies and applies webhook deliveries.
type Handler struct {
	Secret    string
	BodyLimit int64
	Engine    *engine.Engine
	Log       *slog.Logger
	// Observe, when set, is told how long each applied event took from receipt to commit.
	Observe func(outcome string, d time.Duration)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	limit := h.BodyLimit
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	if r.ContentLength > limit {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), h.Secret,
		webhook.ConstructEventOptions{
			Tolerance: Tolerance,
			// Billing re-reads the subscription through its own (pinned) API version and
			// takes only ids from the event, so an endpoint on another version still works.
			IgnoreAPIVersionMismatch: true,
		})
	if err != nil {
		switch {
		case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader),
			errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrTooOld):
			h.Log.WarnContext(ctx, "stripe webhook refused: signature", "err", err)
			http.Error(w, "invalid signature", http.StatusBadRequest)
		default:
			h.Log.WarnContext(ctx, "stripe webhook refused: malformed event", "err", err)
			http.Error(w, "malformed event", http.StatusBadRequest)
		}
		return
	}
	// Stripe gives up on a delivery after about 10 s; a detached context lets a slow commit
	// finish rather than leave an effect half-made when the client goes away.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	res, err := h.Engine.HandleEvent(hctx, &ev)
	if err != nil {
		h.Log.ErrorContext(ctx, "stripe webhook failed; Stripe will retry", "event_id", ev.ID, "type", ev.Type, "err", err)
		http.Error(w, "temporary failure", http.StatusServiceUnavailable)
		return
	}
	if h.Observe != nil {
		h.Observe(res.Outcome, time.Since(start))
	}
	h.Log.InfoContext(ctx, "stripe webhook", "event_id", ev.ID, "type", string(ev.Type), "outcome", res.Outcome, "tenant_id", res.TenantID)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true,"outcome":"`+res.Outcome+`"}`)
}

// Sign builds a Stripe-Signature header for payload at t (tests and the benchmark).
func Sign(payload []byte, secret string, t time.Time) string {
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: t})
	return sp.Header
}

// Event types re-exported for tests.
type Event = stripe.Event
