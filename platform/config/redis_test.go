package config_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium.dev/platform/config"
	"atrium.dev/platform/redistest"
	"github.com/redis/go-redis/v9"
)

// ATRIUM_REDIS_URL with credentials: the URL goes through the settings as given and, parsed
// as every process parses it (redis.ParseURL), authenticates with its password or ACL user;
// without them, or with a wrong password, the first command fails with Redis's own
// NOAUTH / WRONGPASS, and the settings never echo the password.
func TestRedisURLCredentials(t *testing.T) {
	const pw = "s3cret-Redis-pw"
	srv := redistest.StartServer(t, "--requirepass", pw)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: pw})
	defer admin.Close()
	for user, upw := range map[string]string{"atrium": "user-pw", "enc": "p@ss/w:rd%"} {
		if err := admin.Do(context.Background(), "ACL", "SETUSER", user, "on", ">"+upw, "~*", "&*", "+@all").Err(); err != nil {
			t.Fatal(err)
		}
	}
	encoded := (&url.URL{Scheme: "redis", User: url.UserPassword("enc", "p@ss/w:rd%"), Host: srv.Addr, Path: "/0"}).String()
	tests := []struct {
		name    string
		url     string
		wantErr string // "" when the connection must authenticate
	}{
		{"password", "redis://:" + pw + "@" + srv.Addr + "/0", ""},
		{"default user and password", "redis://default:" + pw + "@" + srv.Addr + "/0", ""},
		{"ACL user", "redis://atrium:user-pw@" + srv.Addr + "/0", ""},
		{"percent-encoded password", encoded, ""},
		{"no credentials", "redis://" + srv.Addr + "/0", "NOAUTH"},
		{"wrong password", "redis://:nope@" + srv.Addr + "/0", "WRONGPASS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := config.FromMap(map[string]string{config.EnvRedisURL: tt.url})
			local := config.ReadLocal(env)
			if err := env.Err(); err != nil {
				t.Fatal(err)
			}
			if local.RedisURL != tt.url {
				t.Fatalf("RedisURL = %q, want the URL as given", local.RedisURL)
			}
			opts, err := redis.ParseURL(local.RedisURL)
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(opts)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = c.Set(ctx, "k", "v", 0).Err()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("SET: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("SET: %v, want %s", err, tt.wantErr)
			}
		})
	}

	t.Run("a bad URL is refused without echoing it", func(t *testing.T) {
		env := config.FromMap(map[string]string{config.EnvRedisURL: "redis//:" + pw + "@host"})
		_ = config.ReadLocal(env)
		err := env.Err()
		if err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("err = %v", err)
		}
	})
}
