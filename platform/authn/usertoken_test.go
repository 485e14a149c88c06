package authn_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"atrium.dev/platform/authn"
	"github.com/golang-jwt/jwt/v5"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestUserTokenVerify(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	signer := authn.NewUserTokenSigner(key)
	verifier := authn.NewUserTokenVerifier(pub)

	good, _, err := signer.Issue("u1", "t1", authn.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifier.Verify(good)
	if err != nil {
		t.Fatalf("good token: %v", err)
	}
	if claims.Subject != "u1" || claims.TenantID != "t1" || claims.Role != authn.RoleAdmin {
		t.Fatalf("claims = %+v", claims)
	}

	valid := func() authn.UserClaims {
		now := time.Now()
		return authn.UserClaims{TenantID: "t1", Role: authn.RoleOwner, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: authn.UserTokenIssuer, Audience: jwt.ClaimStrings{authn.UserTokenAudience}, Subject: "u1",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		}}
	}
	sign := func(c authn.UserClaims, k ed25519.PrivateKey) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = authn.KeyID(k.Public().(ed25519.PublicKey))
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	expired := valid()
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	wrongIss := valid()
	wrongIss.Issuer = "someone-else"
	wrongAud := valid()
	wrongAud.Audience = jwt.ClaimStrings{"other"}
	noExp := valid()
	noExp.ExpiresAt = nil
	badRole := valid()
	badRole.Role = "superuser"

	// alg: none, and HS256 keyed with the public key (the classic confusion attack).
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hsTok := jwt.NewWithClaims(jwt.SigningMethodHS256, valid())
	hsTok.Header["kid"] = authn.KeyID(pub)
	hs, err := hsTok.SignedString([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	tamperedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u2","tid":"t2","rol":"owner"}`))

	cases := map[string]string{
		"empty":            "",
		"garbage":          "not.a.token",
		"expired":          sign(expired, key),
		"wrong issuer":     sign(wrongIss, key),
		"wrong audience":   sign(wrongAud, key),
		"no expiry":        sign(noExp, key),
		"unknown role":     sign(badRole, key),
		"other key":        sign(valid(), newKey(t)),
		"alg none":         none,
		"hs256 public key": hs,
		"tampered payload": parts[0] + "." + tamperedPayload + "." + parts[2],
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := verifier.Verify(tok); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestInternalToken(t *testing.T) {
	key := newKey(t)
	signer := authn.NewInternalSigner(key)
	tok, err := signer.Sign(authn.Identity{TenantID: "t1", Schema: "t_t1", Shard: "main", UserID: "u1", Role: authn.RoleMember, RequestID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := authn.NewInternalVerifier(key.Public().(ed25519.PublicKey)).Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.TenantID != "t1" || id.Schema != "t_t1" || id.UserID != "u1" || id.RequestID != "r1" {
		t.Fatalf("identity = %+v", id)
	}
	if _, err := authn.NewInternalVerifier(newKey(t).Public().(ed25519.PublicKey)).Verify(tok); err == nil {
		t.Fatal("token from another key verified")
	}
}

func TestJWKSRoundTrip(t *testing.T) {
	key := newKey(t)
	data, err := authn.NewUserTokenSigner(key).JWKS()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := authn.ParseJWKS(data)
	if err != nil || len(keys) != 1 || !keys[0].Equal(key.Public()) {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	if _, err := authn.ParseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Fatal("empty set parsed")
	}
}

func TestOpaqueToken(t *testing.T) {
	s1, h1 := authn.NewOpaqueToken(authn.KindAPIToken)
	s2, _ := authn.NewOpaqueToken(authn.KindAPIToken)
	if s1 == s2 || authn.HashOpaqueToken(s1) != h1 || authn.OpaqueKind(s1) != authn.KindAPIToken {
		t.Fatalf("bad opaque token %q", s1)
	}
	if authn.OpaqueKind("eyJhbGciOi") != "" {
		t.Fatal("JWT taken for an opaque token")
	}
}
