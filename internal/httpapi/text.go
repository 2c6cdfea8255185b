package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/textfield"
)

// checkText refuses, before the operation runs, a NUL character or invalid
// UTF-8 in any of its path, query and header parameters or anywhere in a
// JSON body (keys and values, at any depth): PostgreSQL would refuse such
// text with a 500, SQLite would store it. The error names the parameter
// ("query.location") or the body field ("body.attributes.color").
func checkText(ctx huma.Context, r *http.Request) error {
	// The body is read first, whatever is refused, so that the audit trail
	// has the request of a refused mutation.
	var body []byte
	if r.Body != nil && r.Body != http.NoBody && strings.Contains(r.Header.Get("Content-Type"), "json") {
		var err error
		body, err = io.ReadAll(r.Body)
		// The operation reads the body again; a read error (over the size
		// limit) is kept for it to answer.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		if err != nil {
			body = nil
		} else if rd, ok := ctx.(readDeadline); ok {
			rd.lift() // the body is read
		}
	}
	for _, p := range ctx.Operation().Parameters {
		var values []string
		switch p.In {
		case "path":
			values = []string{ctx.Param(p.Name)}
		case "query":
			values = r.URL.Query()[p.Name]
		case "header":
			values = r.Header.Values(p.Name)
		}
		for _, v := range values {
			if err := textfield.Check(p.Name, v); err != nil {
				return located(err, p.In)
			}
		}
	}
	return located(textfield.CheckJSON(body), "body")
}

// located puts the part of the request an error's field is in before the
// field: "body" and "attributes.color" is "body.attributes.color".
func located(err error, in string) error {
	e := qrmfg.AsError(err)
	if e == nil {
		return err
	}
	if e.Field == "" {
		e.Field = in
	} else {
		e.Field = in + "." + e.Field
	}
	return e
}

// errReader returns err, or io.EOF when err is nil.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}
