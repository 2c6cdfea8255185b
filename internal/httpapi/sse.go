package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// sseResponses documents a server-sent event stream in the OpenAPI document.
// It returns a new map for each operation: huma adds the operation's error
// responses to it while registering.
func sseResponses() map[string]*huma.Response {
	return map[string]*huma.Response{"200": {Description: "text/event-stream",
		Content: map[string]*huma.MediaType{"text/event-stream": {}}}}
}

// sseWriter writes server-sent events and flushes each one to the client.
type sseWriter struct {
	hc    huma.Context
	flush func()
}

// startSSE sets the stream's headers. Flushing goes through
// http.ResponseController, which reaches the connection through the
// access-log writer's Unwrap (a type assertion on http.Flusher does not).
func startSSE(hc huma.Context) sseWriter {
	hc.SetHeader("Content-Type", "text/event-stream")
	hc.SetHeader("Cache-Control", "no-store")
	hc.SetHeader("X-Accel-Buffering", "no")
	w := sseWriter{hc: hc, flush: func() {}}
	if rw, ok := hc.BodyWriter().(http.ResponseWriter); ok {
		rc := http.NewResponseController(rw)
		w.flush = func() { _ = rc.Flush() }
	}
	return w
}

// send writes one event with v as JSON data; false when the client is gone.
func (w sseWriter) send(event string, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	_, err = fmt.Fprintf(w.hc.BodyWriter(), "event: %s\ndata: %s\n\n", event, b)
	w.flush()
	return err == nil
}

// comment writes a keep-alive comment line.
func (w sseWriter) comment(text string) bool {
	_, err := fmt.Fprintf(w.hc.BodyWriter(), ": %s\n\n", text)
	w.flush()
	return err == nil
}
