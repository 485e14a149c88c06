package credential

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

// Keys holds the public keys that verify user access tokens, fetched from tenancy's
// DirectoryService.GetSigningKeys. It is safe for concurrent use.
type Keys struct {
	dir tenancyv1connect.DirectoryServiceClient
	log *slog.Logger

	state atomic.Pointer[keyState]
	// refreshMu serialises fetches; lastUnknown rate-limits fetches caused by unknown key ids.
	refreshMu   sync.Mutex
	lastUnknown atomic.Int64
}

type keyState struct {
	verifier *authn.UserTokenVerifier
	kids     map[string]bool
	jwks     []byte
}

// NewKeys returns an empty key set; Refresh or Run loads it.
func NewKeys(dir tenancyv1connect.DirectoryServiceClient, log *slog.Logger) *Keys {
	return &Keys{dir: dir, log: log}
}

// Loaded reports whether keys have been fetched at least once.
func (k *Keys) Loaded() bool { return k.state.Load() != nil }

// JWKS returns the key set as tenancy published it.
func (k *Keys) JWKS() ([]byte, bool) {
	s := k.state.Load()
	if s == nil {
		return nil, false
	}
	return s.jwks, true
}

// Refresh fetches the keys now.
func (k *Keys) Refresh(ctx context.Context) error {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	res, err := k.dir.GetSigningKeys(ctx, connect.NewRequest(&tenancyv1.GetSigningKeysRequest{}))
	if err != nil {
		return fmt.Errorf("credential: get signing keys: %w", err)
	}
	data := []byte(res.Msg.GetJwksJson())
	if old := k.state.Load(); old != nil && bytes.Equal(old.jwks, data) {
		return nil
	}
	pubs, err := authn.ParseJWKS(data)
	if err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	s := &keyState{verifier: authn.NewUserTokenVerifier(pubs...), kids: map[string]bool{}, jwks: data}
	for _, p := range pubs {
		s.kids[authn.KeyID(p)] = true
	}
	k.state.Store(s)
	return nil
}

// Run loads the keys, retrying until tenancy answers, then refreshes them every interval
// until ctx ends.
func (k *Keys) Run(ctx context.Context, interval time.Duration) {
	backoff := 100 * time.Millisecond
	for {
		err := k.Refresh(ctx)
		wait := interval
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			k.log.WarnContext(ctx, "signing keys not refreshed; retrying", "err", err, "retry_in", backoff)
			if k.Loaded() {
				wait = min(backoff, interval)
			} else {
				wait = backoff
			}
			backoff = min(backoff*2, 10*time.Second)
		} else {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// current returns the current key set, loading it first if needed and fetching it again (at
// most every 10 s) when the token names a key id not yet known: tenancy may have rotated its
// key.
func (k *Keys) current(ctx context.Context, token string) (*keyState, error) {
	s := k.state.Load()
	if s == nil {
		if err := k.Refresh(ctx); err != nil {
			return nil, err
		}
		return k.state.Load(), nil
	}
	kid := tokenKeyID(token)
	if kid == "" || s.kids[kid] {
		return s, nil
	}
	now := time.Now().UnixNano()
	last := k.lastUnknown.Load()
	if now-last > int64(10*time.Second) && k.lastUnknown.CompareAndSwap(last, now) {
		if err := k.Refresh(ctx); err != nil {
			k.log.WarnContext(ctx, "signing keys refresh for unknown key id", "err", err)
		}
	}
	return k.state.Load(), nil
}

// tokenKeyID reads the kid of a JWT's header without verifying anything.
func tokenKeyID(token string) string {
	head, _, ok := strings.Cut(token, ".")
	if !ok || len(head) > 512 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Kid
}
