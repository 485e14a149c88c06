// Package until reads the end times operators give tenantctl (grants, trials).
package until

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse reads an end time flag (--until, --trial-until): "" is no end; "14d" or a Go duration ("36h", "90m") counts from
// now; otherwise an RFC 3339 time or a date (midnight UTC). A time not after now is refused:
// a grant or trial that has already ended would only uninstall.
func Parse(s string, now time.Time) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var t time.Time
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number of days", s)
		}
		t = now.Add(time.Duration(n) * 24 * time.Hour)
	} else if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(d)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return nil, fmt.Errorf("%q is neither a duration (14d, 36h) nor a time (2026-12-31, 2026-12-31T18:00:00Z)", s)
		}
	}
	if !t.After(now) {
		return nil, errors.New("must be in the future")
	}
	return &t, nil
}
