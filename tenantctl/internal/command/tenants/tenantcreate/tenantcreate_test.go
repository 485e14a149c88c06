package tenantcreate

import (
	"strings"
	"testing"
)

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		// A one-letter-heavy slug and local part make collisions with the random part likely.
		pw := newPassword("aaa", "bbb@x.example.com")
		low := strings.ToLower(pw)
		if len(pw) < 20 || strings.Contains(low, "aaa") || strings.Contains(low, "bbb") || seen[pw] {
			t.Fatalf("bad password %q", pw)
		}
		seen[pw] = true
	}
}
