package output

import (
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// FormatError renders an error for a person: the Connect code and message, then each field
// violation on its own line, then a hint for the codes that have an obvious next step.
//
//	error: invalid_argument: invalid request
//	  slug: must be 3 to 40 characters
func FormatError(err error) string {
	var b strings.Builder
	var ce *connect.Error
	if !errors.As(err, &ce) {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "error: %s: %s\n", ce.Code(), ce.Message())
	for _, d := range ce.Details() {
		msg, derr := d.Value()
		if derr != nil {
			continue
		}
		switch v := msg.(type) {
		case *errdetails.BadRequest:
			for _, fv := range v.GetFieldViolations() {
				fmt.Fprintf(&b, "  %s: %s\n", fv.GetField(), fv.GetDescription())
			}
		case *errdetails.RetryInfo:
			fmt.Fprintf(&b, "  retry after %s\n", v.GetRetryDelay().AsDuration())
		}
	}
	if h := hint(ce.Code()); h != "" {
		fmt.Fprintf(&b, "hint: %s\n", h)
	}
	return b.String()
}

func hint(code connect.Code) string {
	switch code {
	case connect.CodeUnauthenticated:
		return "check the token: --token, ATRIUM_OPERATOR_TOKEN or the context in the config file (tenantctl context list)"
	case connect.CodeUnavailable:
		return "is the gateway running at the context's URL? (make up starts one on http://localhost:8080)"
	}
	return ""
}
