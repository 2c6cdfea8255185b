// Package qrmfg is the shared kernel of qrmfg: the error type with its stable
// codes, the event envelope and the bus interface, the acting user carried in a
// context, and the clock. It holds nothing else.
package qrmfg

import (
	"errors"
	"fmt"
)

// Stable error codes. They are part of the API: clients switch on them, and the
// HTTP layer maps each to exactly one status (see httpapi.StatusOf).
const (
	EINVALID      = "invalid"      // input is malformed or fails validation (422)
	EBADREQUEST   = "bad_request"  // the request itself cannot be parsed (400)
	ENOTFOUND     = "not_found"    // the named object does not exist (404)
	ECONFLICT     = "conflict"     // the object's state forbids the change (409)
	EUNAUTHORIZED = "unauthorized" // no valid credentials (401)
	EFORBIDDEN    = "forbidden"    // credentials valid, permission missing (403)
	ETOOLARGE     = "too_large"    // the request or a limit is exceeded (413)
	ERATELIMITED  = "rate_limited" // too many requests (429)
	EUNAVAILABLE  = "unavailable"  // a dependency is down or the schema is behind (503)
	EINTERNAL     = "internal"     // a bug or an unexpected failure (500)
)

// Error is the one error type of qrmfg. Code is stable and machine-readable;
// Message is for people and names the offending field or object. Field, when
// set, is the input location at fault (for example "count" or "body.lot_number").
type Error struct {
	Code    string
	Message string
	Field   string
	// Detail carries structured context a client may act on, for example the
	// allowed next states of a forbidden transition.
	Detail map[string]any
	// Err is the underlying cause, kept for logs and errors.Is; never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error that names the field at fault.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// WithDetail returns e with a detail key set, for chaining.
func (e *Error) WithDetail(key string, value any) *Error {
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	e.Detail[key] = value
	return e
}

// ErrorCode returns the code of err when it is (or wraps) an *Error, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of err when it is an *Error, and a
// generic text otherwise, so internal details never reach a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// AsError returns the *Error inside err, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
