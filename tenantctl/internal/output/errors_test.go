package output

import (
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

func TestFormatError(t *testing.T) {
	invalid := connect.NewError(connect.CodeInvalidArgument, errors.New("invalid request"))
	d, err := connect.NewErrorDetail(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: "slug", Description: "must be 3 to 40 characters"},
		{Field: "admin_email", Description: "not an email address"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	invalid.AddDetail(d)
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"violations", invalid, []string{"error: invalid_argument: invalid request\n", "  slug: must be 3 to 40 characters\n", "  admin_email: not an email address\n"}},
		{"unauthenticated hint", connect.NewError(connect.CodeUnauthenticated, errors.New("no token")), []string{"error: unauthenticated: no token", "hint: check the token"}},
		{"plain", errors.New("boom"), []string{"error: boom\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FormatError(tt.err)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("FormatError = %q, want it to contain %q", got, w)
				}
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("", Table, JSON); err != nil || f != Table {
		t.Errorf("default = %v, %v", f, err)
	}
	if f, err := ParseFormat("json", Table, JSON); err != nil || f != JSON {
		t.Errorf("json = %v, %v", f, err)
	}
	if _, err := ParseFormat("yaml", Table, JSON); err == nil || !strings.Contains(err.Error(), "table or json") {
		t.Errorf("yaml for a table command: %v", err)
	}
}
