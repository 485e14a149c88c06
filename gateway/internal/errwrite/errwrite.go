// Package errwrite answers a request with an error the gateway produced itself, in the form its
// client understands: a Connect, gRPC or gRPC-Web error for RPCs (connect.ErrorWriter picks the
// protocol from the Content-Type), Backstage's JSON error for the REST routes.
package errwrite

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// Writer writes errors. It is safe for concurrent use.
type Writer struct {
	ew  *connect.ErrorWriter
	log *slog.Logger
}

// New returns a Writer that logs masked internal errors to log.
func New(log *slog.Logger) *Writer {
	return &Writer{ew: connect.NewErrorWriter(), log: log}
}

// RPC writes err in the RPC protocol of r and returns the code it sent. Domain errors keep
// their message; anything else is masked (see rpcerr.ToConnect).
func (w *Writer) RPC(rw http.ResponseWriter, r *http.Request, err error) connect.Code {
	ce := rpcerr.ToConnect(r.Context(), w.log, err)
	setRetryAfter(rw, err)
	if tooLarge(err) {
		// Connect maps resource_exhausted to 429; for a body that is too large 413 is the
		// truthful status, and Connect clients take the code from the JSON body anyway.
		// gRPC and gRPC-Web answer 200 with the code in trailers, so this changes nothing there.
		rw = &statusRewriter{ResponseWriter: rw, from: http.StatusTooManyRequests, to: http.StatusRequestEntityTooLarge}
	}
	if werr := w.ew.Write(rw, r, ce); werr != nil && !errors.Is(werr, context.Canceled) {
		w.log.DebugContext(r.Context(), "write rpc error", "err", werr)
	}
	return ce.Code()
}

// REST writes err as Backstage does ({"error":{"name","message"},"response":{"statusCode"}})
// and returns the HTTP status it sent.
func (w *Writer) REST(rw http.ResponseWriter, r *http.Request, err error) int {
	ce := rpcerr.ToConnect(r.Context(), w.log, err)
	setRetryAfter(rw, err)
	status, name := restStatus(ce.Code())
	if tooLarge(err) {
		status, name = http.StatusRequestEntityTooLarge, "PayloadTooLargeError"
	}
	body := struct {
		Error struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"error"`
		Response struct {
			StatusCode int `json:"statusCode"`
		} `json:"response"`
	}{}
	body.Error.Name, body.Error.Message = name, ce.Message()
	body.Response.StatusCode = status
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(body)
	return status
}

// RESTStatus maps a Connect code to the HTTP status REST clients get.
func RESTStatus(code connect.Code) int {
	s, _ := restStatus(code)
	return s
}

func restStatus(code connect.Code) (int, string) {
	switch code {
	case connect.CodeInvalidArgument, connect.CodeOutOfRange:
		return http.StatusBadRequest, "InputError"
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized, "AuthenticationError"
	case connect.CodePermissionDenied:
		return http.StatusForbidden, "NotAllowedError"
	case connect.CodeNotFound:
		return http.StatusNotFound, "NotFoundError"
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return http.StatusConflict, "ConflictError"
	case connect.CodeFailedPrecondition:
		// Backstage has no precondition error; a suspended tenant is a state conflict.
		return http.StatusConflict, "ConflictError"
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests, "TooManyRequestsError"
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented, "NotImplementedError"
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable, "ServiceUnavailableError"
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout, "ServiceUnavailableError"
	case connect.CodeCanceled:
		return 499, "Error"
	}
	return http.StatusInternalServerError, "Error"
}

// setRetryAfter sends the Retry-After header (whole seconds, at least 1) of a ResourceExhausted
// domain error that carries a delay.
func setRetryAfter(rw http.ResponseWriter, err error) {
	var de *rpcerr.Error
	if !errors.As(err, &de) || de.RetryAfter <= 0 {
		return
	}
	secs := int64((de.RetryAfter + time.Second - 1) / time.Second)
	rw.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// statusRewriter changes one status code on its way out.
type statusRewriter struct {
	http.ResponseWriter
	from, to int
}

func (s *statusRewriter) WriteHeader(code int) {
	if code == s.from {
		code = s.to
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRewriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
