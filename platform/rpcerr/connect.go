package rpcerr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"
)

var codes = map[Kind]connect.Code{
	KindInvalid:            connect.CodeInvalidArgument,
	KindNotFound:           connect.CodeNotFound,
	KindAlreadyExists:      connect.CodeAlreadyExists,
	KindPermissionDenied:   connect.CodePermissionDenied,
	KindUnauthenticated:    connect.CodeUnauthenticated,
	KindFailedPrecondition: connect.CodeFailedPrecondition,
	KindResourceExhausted:  connect.CodeResourceExhausted,
	KindUnavailable:        connect.CodeUnavailable,
}

// ToConnect turns any error into the Connect error a caller may see. Domain errors keep their
// message and details; Connect errors from downstream pass as they are; context errors become
// Canceled or DeadlineExceeded; anything else is logged in full with a fresh id and masked.
func ToConnect(ctx context.Context, log *slog.Logger, err error) *connect.Error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		ce := connect.NewError(codes[de.Kind], errors.New(de.Msg))
		if len(de.Violations) > 0 {
			br := &errdetails.BadRequest{}
			for _, v := range de.Violations {
				br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
			}
			if d, derr := connect.NewErrorDetail(br); derr == nil {
				ce.AddDetail(d)
			}
		}
		for _, m := range de.Details {
			if d, derr := connect.NewErrorDetail(m); derr == nil {
				ce.AddDetail(d)
			}
		}
		if de.RetryAfter > 0 {
			if d, derr := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(de.RetryAfter)}); derr == nil {
				ce.AddDetail(d)
			}
		}
		if de.cause != nil && log != nil {
			log.DebugContext(ctx, "domain error", "kind", de.Kind, "err", err)
		}
		return ce
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	}
	id := newErrorID()
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(ctx, "internal error", "error_id", id, "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error (id "+id+")"))
}

// FieldViolations extracts the field violations of a Connect error (for clients and tests).
func FieldViolations(err error) []Violation {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return nil
	}
	var out []Violation
	for _, d := range ce.Details() {
		msg, derr := d.Value()
		if derr != nil {
			continue
		}
		if br, ok := msg.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				out = append(out, Violation{Field: fv.GetField(), Description: fv.GetDescription()})
			}
		}
	}
	return out
}

func newErrorID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
