package authn

import (
	"crypto/ed25519"
	"crypto/rand"
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
