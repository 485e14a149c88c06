// Package rpcerr holds Atrium's domain errors. Code anywhere returns them with a kind; one
// Connect interceptor (interceptor.go) maps kinds to Connect codes and masks everything else as
// an internal error with an id that is logged in full.
package rpcerr

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
)

// Kind says what went wrong from the caller's point of view.
type Kind int

const (
	KindInvalid Kind = iota + 1
	KindNotFound
	KindAlreadyExists
	KindPermissionDenied
	KindUnauthenticated
	KindFailedPrecondition
	KindResourceExhausted
	KindUnavailable
)

// Violation names one bad field, as "documents[3].metadata.name" style paths.
type Violation struct {
	Field       string
	Description string
}

// Error is a domain error. Its message is shown to callers, so it must not leak internals.
type Error struct {
	Kind       Kind
	Msg        string
	Violations []Violation
	// RetryAfter is sent with ResourceExhausted.
	RetryAfter time.Duration
	// Details are sent as Connect error details: machine-readable reasons a client acts on
	// (the gateway's PermissionDenied for a plugin names the plugin and what unlocks it).
	Details []proto.Message
	cause   error
}

func (e *Error) Error() string {
	if len(e.Violations) == 0 {
		return e.Msg
	}
	parts := make([]string, 0, len(e.Violations))
	for _, v := range e.Violations {
		parts = append(parts, v.Field+": "+v.Description)
	}
	return e.Msg + ": " + strings.Join(parts, "; ")
}

// Unwrap exposes the cause for logs and errors.Is.
func (e *Error) Unwrap() error { return e.cause }

// WithDetail adds a machine-readable error detail.
func (e *Error) WithDetail(m proto.Message) *Error { e.Details = append(e.Details, m); return e }

// WithCause records the underlying error (logged, never shown).
func (e *Error) WithCause(err error) *Error { e.cause = err; return e }

func newf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Invalid is InvalidArgument with field violations.
func Invalid(vs ...Violation) *Error {
	return &Error{Kind: KindInvalid, Msg: "invalid request", Violations: vs}
}

// InvalidField is InvalidArgument for one field.
func InvalidField(field, description string) *Error {
	return Invalid(Violation{Field: field, Description: description})
}

func NotFound(format string, args ...any) *Error { return newf(KindNotFound, format, args...) }
func AlreadyExists(format string, args ...any) *Error {
	return newf(KindAlreadyExists, format, args...)
}
func PermissionDenied(format string, args ...any) *Error {
	return newf(KindPermissionDenied, format, args...)
}
func Unauthenticated(format string, args ...any) *Error {
	return newf(KindUnauthenticated, format, args...)
}
func FailedPrecondition(format string, args ...any) *Error {
	return newf(KindFailedPrecondition, format, args...)
}
func Unavailable(format string, args ...any) *Error { return newf(KindUnavailable, format, args...) }

// ResourceExhausted tells the caller to come back after retryAfter (0: no hint).
func ResourceExhausted(retryAfter time.Duration, format string, args ...any) *Error {
	e := newf(KindResourceExhausted, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// KindOf returns the kind of the first *Error in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// Violations collects field violations while validating a request.
type Violations struct{ list []Violation }

// Add records a violation.
func (v *Violations) Add(field, description string) {
	v.list = append(v.list, Violation{Field: field, Description: description})
}

// Addf records a violation with a formatted description.
func (v *Violations) Addf(field, format string, args ...any) {
	v.Add(field, fmt.Sprintf(format, args...))
}

// Len is the number of violations so far.
func (v *Violations) Len() int { return len(v.list) }

// List returns the violations.
func (v *Violations) List() []Violation { return v.list }

// Err is nil without violations, else an Invalid error holding them all.
func (v *Violations) Err() error {
	if len(v.list) == 0 {
		return nil
	}
	return Invalid(v.list...)
}
