package limitset

import "testing"

func TestParseValue(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "50", want: 50},
		{in: " 7 ", want: 7},
		{in: "unlimited", want: -1},
		{in: "Unlimited", want: -1},
		{in: "-1", want: -1},
		{in: "-2", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "1.5", wantErr: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseValue(tt.in)
			if tt.wantErr != (err != nil) || (!tt.wantErr && got != tt.want) {
				t.Fatalf("ParseValue(%q) = %d, %v; want %d (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
