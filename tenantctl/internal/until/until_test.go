package until

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in      string
		want    time.Time // zero: no end
		wantErr bool
	}{
		{in: ""},
		{in: "14d", want: now.AddDate(0, 0, 14)},
		{in: "36h", want: now.Add(36 * time.Hour)},
		{in: "2026-12-31", want: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
		{in: "2026-12-31T18:00:00Z", want: time.Date(2026, 12, 31, 18, 0, 0, 0, time.UTC)},
		{in: "2026-01-01", wantErr: true},
		{in: "-2h", wantErr: true},
		{in: "0d", wantErr: true},
		{in: "xd", wantErr: true},
		{in: "next week", wantErr: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in, now)
			switch {
			case tt.wantErr:
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want an error", tt.in, got)
				}
			case err != nil:
				t.Fatal(err)
			case tt.want.IsZero() != (got == nil) || (got != nil && !got.Equal(tt.want)):
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
