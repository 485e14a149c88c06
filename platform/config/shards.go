package config

import (
	"errors"
	"fmt"
	"strings"
)

// ParseShards parses a shard list, "name=dsn;name2=dsn2", into name -> dsn.
// Names are 1 to 32 of [a-z0-9-] and unique; a DSN is everything after the
// first "=" (DSNs contain "=" themselves) and must not be empty. Blank entries
// (a trailing ";") are ignored, but the list must name at least one shard.
// Every problem is reported, not only the first.
func ParseShards(s string) (map[string]string, error) {
	shards := make(map[string]string)
	var errs []error
	for i, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, dsn, ok := strings.Cut(entry, "=")
		name, dsn = strings.TrimSpace(name), strings.TrimSpace(dsn)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("shard entry %d: want name=dsn", i+1))
			continue
		case !validShardName(name):
			errs = append(errs, fmt.Errorf("shard entry %d: name %q: want 1 to 32 of a-z, 0-9 and -", i+1, name))
			continue
		case dsn == "":
			errs = append(errs, fmt.Errorf("shard %q: empty dsn", name))
			continue
		}
		if _, dup := shards[name]; dup {
			errs = append(errs, fmt.Errorf("shard %q: listed twice", name))
			continue
		}
		shards[name] = dsn
	}
	if len(errs) == 0 && len(shards) == 0 {
		errs = append(errs, errors.New("no shards listed"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return shards, nil
}

func validShardName(name string) bool {
	if len(name) < 1 || len(name) > 32 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Shards reads the shard list in the variable name with ParseShards, or def
// when it is unset, recording any problem in e. Callers usually pass
// DefaultShardName + "=" + the control database URL as def, so one database
// serves both planes in development.
func Shards(e *Env, name, def string) map[string]string {
	v := e.get(name)
	if v == "" {
		v = def
	}
	shards, err := ParseShards(v)
	if err != nil {
		// Each line of err is one problem; keep them one per line in Err.
		for _, line := range strings.Split(err.Error(), "\n") {
			e.Invalid(name, line)
		}
		return nil
	}
	return shards
}
