package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// statusOf is the one map from error codes to HTTP statuses.
var statusOf = map[string]int{
	qrmfg.EINVALID:      http.StatusUnprocessableEntity,
	qrmfg.EBADREQUEST:   http.StatusBadRequest,
	qrmfg.ENOTFOUND:     http.StatusNotFound,
	qrmfg.ECONFLICT:     http.StatusConflict,
	qrmfg.EUNAUTHORIZED: http.StatusUnauthorized,
	qrmfg.EFORBIDDEN:    http.StatusForbidden,
	qrmfg.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	qrmfg.ERATELIMITED:  http.StatusTooManyRequests,
	qrmfg.EUNAVAILABLE:  http.StatusServiceUnavailable,
	qrmfg.EINTERNAL:     http.StatusInternalServerError,
}

// StatusOf returns the HTTP status of an error code.
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// codeOf is the reverse map, for errors huma raises itself (validation,
// unparsable bodies), so every problem carries a stable code.
func codeOf(status int) string {
	switch status {
	case http.StatusBadRequest:
		return qrmfg.EBADREQUEST
	case http.StatusUnprocessableEntity:
		return qrmfg.EINVALID
	case http.StatusNotFound:
		return qrmfg.ENOTFOUND
	case http.StatusConflict, http.StatusPreconditionFailed:
		return qrmfg.ECONFLICT
	case http.StatusUnauthorized:
		return qrmfg.EUNAUTHORIZED
	case http.StatusForbidden:
		return qrmfg.EFORBIDDEN
	case http.StatusRequestEntityTooLarge:
		return qrmfg.ETOOLARGE
	case http.StatusTooManyRequests:
		return qrmfg.ERATELIMITED
	case http.StatusServiceUnavailable:
		return qrmfg.EUNAVAILABLE
	}
	if status >= 500 {
		return qrmfg.EINTERNAL
	}
	return qrmfg.EBADREQUEST
}

// Problem is an RFC 9457 problem details document with qrmfg's stable code.
type Problem struct {
	Type     string              `json:"type" doc:"A URI naming the kind of problem" example:"https://qrmfg.dev/problems/invalid"`
	Title    string              `json:"title" doc:"Short summary of the kind of problem" example:"Unprocessable Entity"`
	Status   int                 `json:"status" doc:"HTTP status code" example:"422"`
	Detail   string              `json:"detail,omitempty" doc:"What went wrong, naming the field or object" example:"count must be at least 1, got 0"`
	Instance string              `json:"instance,omitempty" doc:"The request id of this occurrence"`
	Code     string              `json:"code" doc:"Stable machine-readable error code" enum:"invalid,bad_request,not_found,conflict,unauthorized,forbidden,too_large,rate_limited,unavailable,internal"`
	Errors   []*huma.ErrorDetail `json:"errors,omitempty" doc:"Per-field errors"`
	Extra    map[string]any      `json:"extra,omitempty" doc:"Structured context, e.g. the allowed next states"`
	// Headers go out with the problem (Retry-After, WWW-Authenticate).
	Headers http.Header `json:"-"`
}

func (p *Problem) Error() string { return p.Detail }

// GetHeaders implements huma.HeadersError.
func (p *Problem) GetHeaders() http.Header { return p.Headers }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

func newProblem(status int, code, detail string) *Problem {
	return &Problem{Type: "https://qrmfg.dev/problems/" + code, Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// hugaError builds the problem huma returns for its own errors.
func humaError(status int, msg string, errs ...error) huma.StatusError {
	for _, err := range errs {
		// The body limit (http.MaxBytesReader in the middleware) surfaces
		// as a read error; it is the client's 413, not our 500.
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return newProblem(http.StatusRequestEntityTooLarge, qrmfg.ETOOLARGE,
				fmt.Sprintf("the request body is over the limit of %d bytes", tooLarge.Limit))
		}
	}
	p := newProblem(status, codeOf(status), msg)
	var details []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d *huma.ErrorDetail
		if errors.As(err, &d) {
			d = &huma.ErrorDetail{Message: d.Message, Location: d.Location, Value: echoed(d.Value)}
			p.Errors = append(p.Errors, d)
			details = append(details, fmt.Sprintf("%s: %s", strings.TrimPrefix(d.Location, "body."), d.Message))
			continue
		}
		p.Errors = append(p.Errors, &huma.ErrorDetail{Message: err.Error()})
		details = append(details, err.Error())
	}
	if len(details) > 0 && (msg == "" || strings.HasPrefix(msg, "validation failed") || strings.HasPrefix(msg, "request body")) {
		p.Detail = strings.Join(details, "; ")
	}
	if status == http.StatusUnprocessableEntity && p.Detail == "" {
		p.Detail = "validation failed"
	}
	return p
}

// echoed is the part of an invalid value a problem repeats back: short
// values whole, long strings cut, large structures left out (a megabyte
// string in a field must not come back in the answer).
func echoed(v any) any {
	const most = 64
	switch t := v.(type) {
	case nil, bool, float64, int, int64:
		return t
	case string:
		if len(t) > most {
			return strings.ToValidUTF8(t[:most], "") + "…"
		}
		return t
	}
	return nil
}

// problem converts a service error into a problem response. Internal errors
// show a generic text; their cause is logged by the caller.
func problem(err error) *Problem {
	e := qrmfg.AsError(err)
	if e == nil {
		return newProblem(http.StatusInternalServerError, qrmfg.EINTERNAL, "Internal error.")
	}
	p := newProblem(StatusOf(e.Code), e.Code, e.Message)
	if e.Code == qrmfg.EINTERNAL {
		p.Detail = "Internal error."
	}
	if e.Field != "" {
		p.Errors = []*huma.ErrorDetail{{Location: e.Field, Message: e.Message}}
	}
	if len(e.Detail) > 0 {
		p.Extra = e.Detail
	}
	return p
}
