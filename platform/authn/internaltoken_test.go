package authn

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

func TestInternalTokenCache(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := NewInternalSigner(key)
	now := time.Now()
	signer.now = func() time.Time { return now }
	verifier := NewInternalVerifier(key.Public().(ed25519.PublicKey))
	cache := NewInternalTokenCache(signer, 3)

	member := Identity{TenantID: "t1", Schema: "t_t1", Shard: "main", UserID: "u1", Role: RoleMember}
	admin := member
	admin.Role = RoleAdmin
	readOnly := member
	readOnly.TenantReadOnly = true

	token := func(id Identity, rid string) string {
		t.Helper()
		id.RequestID = rid
		tok, err := cache.Token(id)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	first := token(member, "req-00000001")
	got, err := verifier.Verify(first)
	if err != nil {
		t.Fatal(err)
	}
	if *got != member {
		t.Fatalf("token carries %+v, want %+v (no request id)", *got, member)
	}
	if token(member, "req-00000002") != first {
		t.Fatal("another request of the same identity got a new token")
	}
	for name, id := range map[string]Identity{"role": admin, "read-only": readOnly} {
		tok := token(id, "req-00000003")
		if tok == first {
			t.Fatalf("identity differing in %s got the member's token", name)
		}
		if got, err := verifier.Verify(tok); err != nil || *got != id {
			t.Fatalf("%s token: %+v, %v", name, got, err)
		}
	}

	now = now.Add(InternalTokenReuse - time.Second)
	if token(member, "") != first {
		t.Fatal("token replaced before its reuse time ran out")
	}
	now = now.Add(2 * time.Second)
	renewed := token(member, "")
	if renewed == first {
		t.Fatal("token reused past InternalTokenReuse")
	}
	if _, err := verifier.Verify(renewed); err != nil {
		t.Fatal(err)
	}

	// Full: the expired entries go first, then everything; it never grows past max.
	for _, uid := range []string{"u2", "u3", "u4", "u5"} {
		id := member
		id.UserID = uid
		token(id, "")
		if n := len(cache.tokens); n > 3 {
			t.Fatalf("cache holds %d tokens, max 3", n)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	tests := map[string]bool{
		"0123456789abcdef01234567": true,
		"req-1.a_B":                true,
		"short":                    false,
		"":                         false,
		"has space in it":          false,
		"line\nbreak-injection":    false,
		"quote\"injection":         false,
		string(make([]byte, 65)):   false,
	}
	for id, want := range tests {
		if got := ValidRequestID(id); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", id, got, want)
		}
	}
	long := "a"
	for len(long) < 64 {
		long += "a"
	}
	if !ValidRequestID(long) || ValidRequestID(long+"a") {
		t.Error("64 characters must pass, 65 must not")
	}
}

// A verified token is kept until it expires and answers as a fresh check would: the same
// identity (a copy the caller may change), refused once expired; any other bytes are checked
// again. Each tenant keeps at most maxVerifiedPerTenant tokens and evicts only its own.
func TestInternalVerifierKeepsVerifiedTokens(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := NewInternalSigner(key)
	now := time.Now()
	signer.now = func() time.Time { return now }
	v := NewInternalVerifier(key.Public().(ed25519.PublicKey))
	v.now = func() time.Time { return now }
	sign := func(tenant, user string) string {
		t.Helper()
		tok, err := signer.Sign(Identity{TenantID: tenant, Schema: "t_" + tenant, UserID: user, Role: RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	acme, globex := sign("acme", "u1"), sign("globex", "u1")
	alter := func(tok string) string { // one character of the signature changed
		b := []byte(tok)
		if b[len(b)-10] == 'A' {
			b[len(b)-10] = 'B'
		} else {
			b[len(b)-10] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name    string
		token   string
		tenant  string // "" for refused
		checked bool   // whether the signature is checked on this call
	}{
		{"acme, first", acme, "acme", true},
		{"acme, again", acme, "acme", false},
		{"globex, first", globex, "globex", true},
		{"globex, again", globex, "globex", false},
		{"acme's token altered", alter(acme), "", true},
		{"acme's token with a byte more", acme + "A", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := v.checks
			id, err := v.Verify(tc.token)
			if tc.tenant == "" {
				if err == nil {
					t.Fatalf("accepted: %+v", id)
				}
				return
			}
			if err != nil || id.TenantID != tc.tenant || id.Schema != "t_"+tc.tenant {
				t.Fatalf("got %+v, %v, want tenant %s", id, err, tc.tenant)
			}
			if checked := v.checks > before; checked != tc.checked {
				t.Fatalf("signature checked: %v, want %v", checked, tc.checked)
			}
			id.TenantID, id.RequestID = "changed", "changed" // the caller's copy
		})
	}
	if id, err := v.Verify(acme); err != nil || id.TenantID != "acme" || id.RequestID != "" {
		t.Fatalf("a caller's change reached the kept identity: %+v %v", id, err)
	}

	// Acme's flood of tokens evicts acme's own, never globex's.
	for i := 0; i < 3*maxVerifiedPerTenant; i++ {
		now = now.Add(time.Millisecond) // a new token each time
		if _, err := v.Verify(sign("acme", fmt.Sprint("flood-", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.byTenant["acme"]); n != maxVerifiedPerTenant {
		t.Fatalf("acme keeps %d tokens, want %d", n, maxVerifiedPerTenant)
	}
	before := v.checks
	if _, err := v.Verify(globex); err != nil || v.checks != before {
		t.Fatalf("globex's token checked again after acme's flood (%v)", err)
	}

	// Expired: refused, cached or not.
	now = now.Add(InternalTokenTTL + 6*time.Second)
	if _, err := v.Verify(globex); err == nil {
		t.Fatal("expired token accepted from the cache")
	}
}
