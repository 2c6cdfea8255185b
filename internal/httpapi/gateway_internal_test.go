package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"203.0.113.7:5000", "", nil, "203.0.113.7"},
		{"203.0.113.7:5000", "198.51.100.1", nil, "203.0.113.7"},                      // an untrusted peer's header is ignored
		{"10.1.2.3:5000", "198.51.100.1", trusted, "198.51.100.1"},                    // through one proxy
		{"10.1.2.3:5000", "1.2.3.4, 198.51.100.1, 10.9.9.9", trusted, "198.51.100.1"}, // right-most untrusted hop
		{"10.1.2.3:5000", "garbage", trusted, "10.1.2.3"},                             // unparsable: the peer
		{"10.1.2.3:5000", "10.4.4.4", trusted, "10.1.2.3"},                            // all trusted: the peer
		{"[::ffff:203.0.113.9]:80", "", nil, "203.0.113.9"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r, c.trusted); got != c.want {
			t.Errorf("clientIP(%s, XFF %q) = %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// FuzzClientIP: any forwarded header gives an address, never a panic, and
// an untrusted peer is always its own client.
func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:80", "1.2.3.4, 5.6.7.8")
	f.Add("[::1]:1", ",,,")
	f.Add("bad", "\x00")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = []string{xff}
		got := clientIP(r, trusted)
		if got == "" && remote != "" && !strings.HasPrefix(remote, ":") {
			t.Fatalf("no client for %q %q", remote, xff)
		}
		if a, err := netip.ParseAddrPort(remote); err == nil && !trusted[0].Contains(a.Addr().Unmap()) && got != a.Addr().Unmap().String() {
			t.Fatalf("untrusted peer %s: client %s", remote, got)
		}
	})
}

func TestRedaction(t *testing.T) {
	c := &capture{}
	c.buf.WriteString(`{"username":"anna","password":"hunter2hunter2","nested":{"refresh_token":"x","keep":1},"list":[{"secret":"s"}]}`)
	got := string(c.request())
	if strings.Contains(got, "hunter2") || strings.Contains(got, `"x"`) || strings.Contains(got, `"s"`) || !strings.Contains(got, `"keep":1`) {
		t.Fatalf("redacted: %s", got)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(got), &v); err != nil || v["username"] != "anna" {
		t.Fatalf("redacted body %s: %v", got, err)
	}
	c.buf.Reset()
	c.buf.WriteString(`{"truncated":`)
	if c.request() != nil {
		t.Fatal("a cut-off body was kept")
	}
}

func TestCORS(t *testing.T) {
	s := &Server{opt: Options{CORSOrigins: []string{"https://app.example.com"}}}
	pre := func(origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodOptions, "/inventory/items", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		w := httptest.NewRecorder()
		if !s.cors(w, r) {
			t.Fatal("a preflight was not answered")
		}
		return w
	}
	if w := pre("https://evil.example"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin allowed: %v", w.Header())
	}
	w := pre("https://app.example.com")
	h := w.Header()
	if h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") ||
		h.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("allowed origin: %v", h)
	}
}

func TestCreatedID(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":"b1","count":3}`: "b1",
		`{"batch_id":"g7","items":[{"uid":"PAD-V0100-L1-00001"},{"uid":"PAD-`: "g7", // cut off after the id
		`{"key":"qrmfg_secret","api_key":{"id":"k9","prefix":"abc"}}`:         "k9",
		`{"uid":"PAD-V0100-L1-00001"}`:                                        "PAD-V0100-L1-00001",
		`[1,2]`:                                                               "",
		``:                                                                    "",
		`{"count":3`:                                                          "",
	} {
		if got := createdID([]byte(in)); got != want {
			t.Errorf("createdID(%s) = %q, want %q", in, got, want)
		}
	}
}
