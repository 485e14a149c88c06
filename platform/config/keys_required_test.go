package config_test

import (
	"strings"
	"testing"

	"atrium.dev/platform/config"
)

func TestRequiredEd25519Key(t *testing.T) {
	seed := strings.Repeat("A", 43) + "=" // base64 of 32 zero bytes
	tests := []struct {
		name    string
		value   string
		wantKey bool
		wantErr bool
	}{
		{"unset", "", false, true},
		{"valid", seed, true, false},
		{"not base64", "!!!", false, true},
		{"short", "AAAA", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := config.FromMap(map[string]string{config.EnvInternalKey: tc.value})
			key := config.RequiredEd25519Key(env, config.EnvInternalKey)
			if (key != nil) != tc.wantKey || (env.Err() != nil) != tc.wantErr {
				t.Fatalf("key %v, err %v", key != nil, env.Err())
			}
			if tc.wantErr && !strings.Contains(env.Err().Error(), config.EnvInternalKey) {
				t.Fatalf("error does not name the variable: %v", env.Err())
			}
		})
	}
}
