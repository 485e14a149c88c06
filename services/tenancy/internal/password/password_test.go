package password

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashVerify(t *testing.T) {
	h1, err := Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the default parameters", h1)
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"", false},
	} {
		ok, err := Verify(tt.pw, h1)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tt.pw, ok, err, tt.want)
		}
	}
}

func TestVerifyOtherParams(t *testing.T) {
	// Stored hashes keep their own parameters: raising Default must not break them.
	h, err := hashWith("pw-with-old-params", Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Verify("pw-with-old-params", h); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, _ := Hash("x")
	parts := strings.Split(good, "$")
	for _, phc := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=18$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=99999999,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=0,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$",
	} {
		if ok, err := Verify("x", phc); ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformed", phc, ok, err)
		}
	}
}

func TestStartWait(t *testing.T) {
	p := Start("correct horse battery")
	h, err := p.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Verify("correct horse battery", h); err != nil || !ok {
		t.Fatalf("background hash does not verify: %v, %v", ok, err)
	}
	// Waiting again gives the same answer.
	if again, err := p.Wait(context.Background()); err != nil || again != h {
		t.Fatalf("second Wait = %q, %v", again, err)
	}
}

// A caller whose context ends stops waiting at once, and the hashing goroutine still ends by
// itself: nothing is left running.
func TestStartWaitCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := Start("correct horse battery")
	if _, err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a canceled context = %v, want context.Canceled", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the hashing goroutine has not ended after 10 s")
	}
	if p.hash == "" || p.err != nil {
		t.Fatalf("abandoned hash = %q, %v; the goroutine should still finish its work", p.hash, p.err)
	}
}
