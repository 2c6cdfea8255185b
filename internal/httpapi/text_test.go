package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/httpapi"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// fullEnv is the API with inventory, scanning and the audit trail over db,
// called as an admin, with the lot PAD-V0100-L2025-09 (3 items) in stock.
type fullEnv struct {
	db  *sqlstore.DB
	api http.Handler
}

func newFullEnv(t *testing.T, db *sqlstore.DB) fullEnv {
	t.Helper()
	ctx := context.Background()
	inv := inventory.NewService(db.Inventory(), inventory.DefaultLimits())
	if _, err := inv.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L2025-09", Count: 3}); err != nil {
		t.Fatal(err)
	}
	pc := &partid.PayloadConfig{Keys: partid.NewKeyring()}
	scan := scanning.NewService(db.Scanning(), inv, pc, scanning.Options{}, nil)
	_, priv, _ := ed25519.GenerateKey(nil)
	lg, err := audit.New(db.Audit(), audit.Config{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	authn, tok := testAuth(t, db, auth.RoleAdmin)
	api := httpapi.New(httpapi.Options{Version: "test", Auth: authn, Audit: lg}, httpapi.Services{Inventory: inv, Scanning: scan})
	return fullEnv{db: db, api: withToken(api, tok)}
}

func (e fullEnv) do(t *testing.T, method, target, ctype string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	return rec
}

// count is the number of rows in a table, to see that a refused request
// stored nothing.
func (e fullEnv) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.db.SQL().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type problemDoc struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// TestTextWithNULOrBadUTF8 sends a NUL character or invalid UTF-8 in every
// kind of text that reaches the database (JSON fields, nested attribute keys
// and values, query and path parameters, multipart fields, CSV cells): each
// is a 422 naming the field, on both databases, and nothing is stored.
func TestTextWithNULOrBadUTF8(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newFullEnv(t, db)
		const uid = "PAD-V0100-L2025-09-00001"
		scanPart, scanType := multipartBody(t, []byte("not read"), "device", "cam\x001")
		cases := []struct {
			name, method, target, ctype string
			body                        []byte
			location, detail            string
		}{
			{"attribute value NUL", "POST", "/inventory/batches", "application/json",
				[]byte(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-10","count":2,"attributes":{"color":"re\u0000d"}}`),
				"body.attributes.color", "attributes.color contains a NUL character"},
			{"attribute value bad UTF-8", "POST", "/inventory/batches", "application/json",
				[]byte("{\"component_type\":\"PAD\",\"vendor_code\":\"V0100\",\"lot_number\":\"L2025-10\",\"count\":2,\"attributes\":{\"color\":\"r\xe9d\"}}"),
				"body.attributes.color", "attributes.color is not valid UTF-8"},
			{"attribute key NUL", "POST", "/inventory/batches", "application/json",
				[]byte(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-10","count":2,"attributes":{"co\u0000lor":"red"}}`),
				"body.attributes", "a key of attributes contains a NUL character"},
			{"location NUL", "PATCH", "/inventory/items/" + uid, "application/json",
				[]byte(`{"location":"dock\u00003"}`), "body.location", "location contains a NUL character"},
			{"session name NUL", "POST", "/scanning/sessions", "application/json",
				[]byte(`{"kind":"count","name":"night\u0000shift","expected":{"lot":{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09"}}}`),
				"body.name", "name contains a NUL character"},
			{"session name bad UTF-8", "POST", "/scanning/sessions", "application/json",
				[]byte("{\"kind\":\"count\",\"name\":\"night\xff\",\"expected\":{\"lot\":{\"component_type\":\"PAD\",\"vendor_code\":\"V0100\",\"lot_number\":\"L2025-09\"}}}"),
				"body.name", "name is not valid UTF-8"},
			{"scanned code NUL", "POST", "/scanning/scans", "application/json",
				[]byte(`{"codes":["PAD-V0100-L2025-09-00001","x\u0000"]}`), "body.codes[1]", "codes[1] contains a NUL character"},
			{"query NUL", "GET", "/inventory/items?location=dock%00", "", nil, "query.location", "location contains a NUL character"},
			{"query bad UTF-8", "GET", "/inventory/items?lot_number=L%FF", "", nil, "query.lot_number", "lot_number is not valid UTF-8"},
			{"path NUL", "POST", "/inventory/items/PAD%00/transitions", "application/json", []byte(`{"to":"engraved"}`),
				"path.uid", "uid contains a NUL character"},
			{"multipart NUL", "POST", "/scanning/scan", scanType, scanPart.Bytes(), "device", "device contains a NUL character"},
			{"CSV cell NUL", "POST", "/inventory/import", "text/csv",
				[]byte("uid,location\nPAD-V0100-L2025-11-00001,dock 1\nPAD-V0100-L2025-11-00002,dock\x002\n"),
				"line 3, location", "location contains a NUL character"},
			{"CSV cell bad UTF-8", "POST", "/inventory/import", "text/csv",
				[]byte("uid,location\nPAD-V0100-L2025-11-00001,d\xf6ck\n"), "line 2, location", "location is not valid UTF-8"},
		}
		before := map[string]int{}
		tables := []string{"items", "batches", "item_history", "scans", "scan_sessions"}
		for _, tb := range tables {
			before[tb] = env.count(t, tb)
		}
		for _, c := range cases {
			rec := env.do(t, c.method, c.target, c.ctype, c.body)
			var p problemDoc
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != http.StatusUnprocessableEntity || p.Code != "invalid" {
				t.Errorf("%s: %d %s, want 422 invalid", c.name, rec.Code, rec.Body)
				continue
			}
			found := false
			for _, e := range p.Errors {
				found = found || (e.Location == c.location && strings.Contains(e.Message, c.detail))
			}
			if !found {
				t.Errorf("%s: errors %+v do not name %s with %q", c.name, p.Errors, c.location, c.detail)
			}
		}
		for _, tb := range tables {
			if n := env.count(t, tb); n != before[tb] {
				t.Errorf("%s has %d rows after the refused requests, had %d", tb, n, before[tb])
			}
		}
		// Every refused mutation is in the audit trail as failed, with the
		// request it refused; a NUL in the object id, which no text column
		// takes on PostgreSQL, is stored as U+FFFD.
		events := func(query string) []audit.Entry {
			rec := env.do(t, "GET", "/audit/events?outcome=failed&"+query, "", nil)
			var list struct {
				Events []audit.Entry `json:"events"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("audit list: %d %s", rec.Code, rec.Body)
			}
			return list.Events
		}
		if es := events("action=inventory.batch.allocate"); len(es) != 3 {
			t.Errorf("%d failed allocations in the audit trail, want 3: %+v", len(es), es)
		} else if after := string(es[0].After); !strings.Contains(after, `"status":422`) || !strings.Contains(after, `"color":"re\u0000d"`) {
			t.Errorf("audit record of the refused allocation: %s", after)
		}
		if es := events("action=inventory.item.transition"); len(es) != 1 || es[0].ObjectID != "PAD\uFFFD" ||
			!strings.Contains(string(es[0].After), `"status":422`) || !strings.Contains(string(es[0].After), `"to":"engraved"`) {
			t.Errorf("audit records of the refused transition: %+v", es)
		}
	})
}

// TestMalformedTraceparentIsIgnored: a traceparent header that is not W3C
// trace context (here with bytes that are not UTF-8) is dropped, as the
// W3C recommendation says, instead of failing the mutation whose events
// would carry it.
func TestMalformedTraceparentIsIgnored(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newFullEnv(t, db)
		for _, tp := range []string{"00-\xff\xfe-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
			req := httptest.NewRequest("POST", "/inventory/batches", strings.NewReader(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-10","count":1}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("traceparent", tp)
			rec := httptest.NewRecorder()
			env.api.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				t.Errorf("allocate with traceparent %q: %d %s", tp, rec.Code, rec.Body)
			}
		}
		var traced int
		if err := db.SQL().QueryRow(`SELECT count(*) FROM outbox WHERE traceparent LIKE '00-4bf92f35%'`).Scan(&traced); err != nil || traced == 0 {
			t.Errorf("the well-formed traceparent is on %d outbox events (%v), want some", traced, err)
		}
	})
}
