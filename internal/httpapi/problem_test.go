package httpapi

import (
	"errors"
	"net/http"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func TestStatusOfEveryCode(t *testing.T) {
	t.Parallel()
	want := map[string]int{
		qrmfg.EINVALID: 422, qrmfg.EBADREQUEST: 400, qrmfg.ENOTFOUND: 404, qrmfg.ECONFLICT: 409,
		qrmfg.EUNAUTHORIZED: 401, qrmfg.EFORBIDDEN: 403, qrmfg.ETOOLARGE: 413, qrmfg.ERATELIMITED: 429,
		qrmfg.EUNAVAILABLE: 503, qrmfg.EINTERNAL: 500,
	}
	for code, status := range want {
		if got := StatusOf(code); got != status {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, status)
		}
		// huma's own errors map back to the same code.
		if code != qrmfg.EINTERNAL && codeOf(status) != code {
			t.Errorf("codeOf(%d) = %s, want %s", status, codeOf(status), code)
		}
	}
}

func TestProblemHidesInternalErrors(t *testing.T) {
	t.Parallel()
	p := problem(errors.New("pq: password authentication failed for user admin"))
	if p.Status != http.StatusInternalServerError || p.Detail != "Internal error." || p.Code != qrmfg.EINTERNAL {
		t.Fatalf("problem = %+v", p)
	}
	p = problem(&qrmfg.Error{Code: qrmfg.EINTERNAL, Message: "disk full at /var/lib/x", Err: errors.New("x")})
	if p.Detail != "Internal error." {
		t.Fatalf("an internal message leaked: %q", p.Detail)
	}
	p = problem(qrmfg.FieldError("count", "count must be at least 1").WithDetail("min", 1))
	if p.Status != 422 || len(p.Errors) != 1 || p.Errors[0].Location != "count" || p.Extra["min"] != 1 {
		t.Fatalf("field problem = %+v", p)
	}
}
