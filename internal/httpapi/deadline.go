package httpapi

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// readDeadline keeps a connection's read deadline to the reading of the
// request. net/http cancels a request's context when a read deadline passes
// while the answer is still being written (its background read times out),
// and huma sets a 5 s deadline before it reads a body and never lifts it: a
// ZIP of 100,000 codes, a tray photo decoded for longer, or an event stream
// was cut off 5 s after its request (or QRMFG_HTTP_READ_TIMEOUT after it for
// requests without a body). The server's QRMFG_HTTP_READ_TIMEOUT bounds the
// reading of the whole request, body included; once the body has been read
// the deadline is lifted.
type readDeadline struct {
	humaContext
	w http.ResponseWriter
}

// humaContext names the embedded context (huma.Context has a Context method).
type humaContext = huma.Context

// withReadDeadline wraps ctx for the operation. A request without a body is
// read already, so its deadline is lifted at once.
func withReadDeadline(ctx huma.Context, r *http.Request, w http.ResponseWriter) huma.Context {
	c := readDeadline{humaContext: ctx, w: w}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		c.lift()
	}
	return c
}

// Unwrap lets humago.Unwrap reach the request.
func (c readDeadline) Unwrap() huma.Context { return c.humaContext }

// lift removes the connection's read deadline.
func (c readDeadline) lift() { _ = http.NewResponseController(c.w).SetReadDeadline(time.Time{}) }

// SetReadDeadline ignores huma's per-operation body deadline: the server's
// read timeout already bounds the request, and a deadline left in place
// would cancel the operation while it answers.
func (readDeadline) SetReadDeadline(time.Time) error { return nil }

// BodyReader lifts the deadline when the body has been read to its end.
func (c readDeadline) BodyReader() io.Reader { return liftAtEOF{r: c.humaContext.BodyReader(), c: c} }

// GetMultipartForm reads the whole form, then lifts the deadline.
func (c readDeadline) GetMultipartForm() (*multipart.Form, error) {
	f, err := c.humaContext.GetMultipartForm()
	if err == nil {
		c.lift()
	}
	return f, err
}

type liftAtEOF struct {
	r io.Reader
	c readDeadline
}

func (l liftAtEOF) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if errors.Is(err, io.EOF) {
		l.c.lift()
	}
	return n, err
}
