package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	env := FromMap(nil)
	if got := env.String(EnvHTTPAddr, ":8081"); got != ":8081" {
		t.Errorf("String = %q, want default", got)
	}
	if got := env.Int("N", 7); got != 7 {
		t.Errorf("Int = %d, want 7", got)
	}
	if got := env.Duration("D", time.Second); got != time.Second {
		t.Errorf("Duration = %v, want 1s", got)
	}
	if got := env.Bool("B", true); !got {
		t.Error("Bool = false, want default true")
	}
	if got := env.URL(EnvDatabaseURL, DefaultDatabaseURL); got != DefaultDatabaseURL {
		t.Errorf("URL = %q, want default", got)
	}
	if got := env.URL(EnvOTLPEndpoint, ""); got != "" {
		t.Errorf("optional URL = %q, want empty", got)
	}
	if got := env.OneOf(EnvLogLevel, DefaultLogLevel, "debug", "info"); got != "info" {
		t.Errorf("OneOf = %q, want default", got)
	}
	if key := Ed25519Key(env, EnvInternalKey); key != nil {
		t.Error("Ed25519Key of unset variable is not nil")
	}
	if got := Shards(env, EnvShards, DefaultShards); got[DefaultShardName] != DefaultDatabaseURL || len(got) != 1 {
		t.Errorf("Shards = %v, want main -> default database", got)
	}
	if err := env.Err(); err != nil {
		t.Fatalf("Err = %v, want nil for defaults", err)
	}
}

func TestValues(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	env := FromMap(map[string]string{
		"S":            "  value ",
		"EMPTY":        "",
		"N":            "-12",
		"D":            "1m30s",
		"B":            "FALSE",
		"U":            "http://127.0.0.1:9000/x",
		"LEVEL":        "DEBUG",
		"KEY":          base64.StdEncoding.EncodeToString(seed),
		"SHARDS":       "a=postgres://h1/db?sslmode=disable; b=host=h2 dbname=x ;",
		"REQUIRED_SET": "yes",
	})
	if got := env.String("S", "def"); got != "value" {
		t.Errorf("String = %q, want trimmed value", got)
	}
	if got := env.String("EMPTY", "def"); got != "def" {
		t.Errorf("String of empty = %q, want default", got)
	}
	if got := env.Required("REQUIRED_SET"); got != "yes" {
		t.Errorf("Required = %q", got)
	}
	if got := env.Int("N", 0); got != -12 {
		t.Errorf("Int = %d, want -12", got)
	}
	if got := env.Duration("D", 0); got != 90*time.Second {
		t.Errorf("Duration = %v, want 1m30s", got)
	}
	if got := env.Bool("B", true); got {
		t.Error("Bool = true, want false")
	}
	if got := env.URL("U", ""); got != "http://127.0.0.1:9000/x" {
		t.Errorf("URL = %q", got)
	}
	if got := env.OneOf("LEVEL", "info", "debug", "info"); got != "debug" {
		t.Errorf("OneOf = %q, want debug", got)
	}
	key := Ed25519Key(env, "KEY")
	if want := ed25519.NewKeyFromSeed(seed); !key.Equal(want) {
		t.Error("Ed25519Key does not match the seed")
	}
	shards := Shards(env, "SHARDS", DefaultShards)
	if shards["a"] != "postgres://h1/db?sslmode=disable" || shards["b"] != "host=h2 dbname=x" || len(shards) != 2 {
		t.Errorf("Shards = %v", shards)
	}
	if err := env.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}
}

func TestErrorsCollected(t *testing.T) {
	env := FromMap(map[string]string{
		"N":      "twelve",
		"D":      "5 minutes",
		"NEG":    "-1s",
		"B":      "yep",
		"U1":     "127.0.0.1:5432",
		"U2":     "/just/a/path",
		"U3":     "http://[::1",
		"LEVEL":  "loud",
		"KEY1":   "not*base64",
		"KEY2":   base64.StdEncoding.EncodeToString([]byte("short")),
		"SHARDS": "BAD=x;ok=",
	})
	if got := env.Int("N", 3); got != 3 {
		t.Errorf("bad Int = %d, want default 3", got)
	}
	if got := env.Duration("D", time.Second); got != time.Second {
		t.Errorf("bad Duration = %v, want default", got)
	}
	env.Duration("NEG", time.Second)
	if got := env.Bool("B", true); !got {
		t.Error("bad Bool did not return default")
	}
	if got := env.URL("U1", "http://def"); got != "http://def" {
		t.Errorf("bad URL = %q, want default", got)
	}
	env.URL("U2", "")
	env.URL("U3", "")
	env.OneOf("LEVEL", "info", "debug", "info")
	if Ed25519Key(env, "KEY1") != nil || Ed25519Key(env, "KEY2") != nil {
		t.Error("bad key returned non-nil")
	}
	if Shards(env, "SHARDS", DefaultShards) != nil {
		t.Error("bad shards returned non-nil")
	}
	env.Required("MISSING")
	env.Invalid("CUSTOM", "custom check failed")

	err := env.Err()
	if err == nil {
		t.Fatal("Err = nil, want every problem")
	}
	lines := strings.Split(err.Error(), "\n")
	var names []string
	for _, line := range lines {
		name, _, ok := strings.Cut(line, ": ")
		if !ok {
			t.Errorf("line %q does not start with the variable name", line)
		}
		names = append(names, name)
	}
	want := []string{"N", "D", "NEG", "B", "U1", "U2", "U3", "LEVEL", "KEY1", "KEY2", "SHARDS", "SHARDS", "MISSING", "CUSTOM"}
	if !slices.Equal(names, want) {
		t.Errorf("problems name %v, want %v\nfull error:\n%v", names, want, err)
	}
	if strings.Contains(err.Error(), "not*base64") {
		t.Error("key value leaked into the error")
	}
}

func TestParseShards(t *testing.T) {
	long := strings.Repeat("a", 32)
	tests := []struct {
		in      string
		want    map[string]string
		wantErr []string // substrings the error must contain
	}{
		{in: "main=postgres://h/db", want: map[string]string{"main": "postgres://h/db"}},
		{in: "a=postgres://h/db?x=1&y=2", want: map[string]string{"a": "postgres://h/db?x=1&y=2"}},
		{in: " a = dsn1 ;b-2=dsn2;", want: map[string]string{"a": "dsn1", "b-2": "dsn2"}},
		{in: long + "=d", want: map[string]string{long: "d"}},
		{in: "", wantErr: []string{"no shards"}},
		{in: " ; ;", wantErr: []string{"no shards"}},
		{in: "main", wantErr: []string{"entry 1: want name=dsn"}},
		{in: "main=", wantErr: []string{`"main": empty dsn`}},
		{in: "=dsn", wantErr: []string{`name ""`}},
		{in: "Main=dsn", wantErr: []string{`name "Main"`}},
		{in: "a_b=dsn", wantErr: []string{`name "a_b"`}},
		{in: long + "a=dsn", wantErr: []string{"entry 1: name"}},
		{in: "a=x;a=y", wantErr: []string{`"a": listed twice`}},
		{in: "ok=x;BAD=y;none", wantErr: []string{`name "BAD"`, "entry 3: want name=dsn"}},
	}
	for _, tt := range tests {
		got, err := ParseShards(tt.in)
		if len(tt.wantErr) > 0 {
			if err == nil {
				t.Errorf("ParseShards(%q) = %v, want error", tt.in, got)
				continue
			}
			for _, sub := range tt.wantErr {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("ParseShards(%q) error %q does not mention %q", tt.in, err, sub)
				}
			}
			if got != nil {
				t.Errorf("ParseShards(%q) returned shards with an error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseShards(%q) error: %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseShards(%q) = %v, want %v", tt.in, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("ParseShards(%q)[%q] = %q, want %q", tt.in, k, got[k], v)
			}
		}
	}
}

func TestKnownEnv(t *testing.T) {
	known := KnownEnv()
	for _, name := range []string{EnvDatabaseURL, EnvShards, EnvRedisURL, EnvHTTPAddr, EnvTenancyURL,
		EnvCatalogURL, EnvInternalKey, EnvTokenKey, EnvLogLevel, "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"} {
		if !slices.Contains(known, name) {
			t.Errorf("KnownEnv lacks %s", name)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(known)))) != len(known) {
		t.Error("KnownEnv has duplicates")
	}
	for _, u := range []string{DefaultDatabaseURL, DefaultRedisURL, DefaultTenancyURL, DefaultCatalogURL} {
		if err := checkURL(u); err != nil {
			t.Errorf("default %q: %v", u, err)
		}
	}
}

func TestDefaultURLsMatchPorts(t *testing.T) {
	tests := []struct {
		url  string
		port int
	}{
		{DefaultTenancyURL, TenancyPort},
		{DefaultCatalogURL, CatalogPort},
	}
	for _, tt := range tests {
		if want := ":" + strconv.Itoa(tt.port); !strings.HasSuffix(tt.url, want) {
			t.Errorf("%s does not end in %s", tt.url, want)
		}
	}
}
