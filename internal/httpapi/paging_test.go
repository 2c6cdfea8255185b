package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

var nextLink = regexp.MustCompile(`^<([^>]*)>; rel="next"$`)

// follow gets target, then every page its Link rel=next leads to, and
// returns each page's body.
func (e fullEnv) follow(t *testing.T, target string) [][]byte {
	t.Helper()
	var pages [][]byte
	for target != "" && len(pages) < 20 {
		rec := e.do(t, "GET", target, "", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
		}
		pages = append(pages, rec.Body.Bytes())
		link := rec.Header().Get("Link")
		if link == "" {
			break
		}
		m := nextLink.FindStringSubmatch(link)
		if m == nil {
			t.Fatalf("GET %s: Link %q is not a rel=next link", target, link)
		}
		base, _ := url.Parse(target)
		ref, err := url.Parse(m[1])
		if err != nil {
			t.Fatalf("Link %q: %v", link, err)
		}
		target = base.ResolveReference(ref).String()
	}
	return pages
}

// TestNextLinkKeepsTheFilters follows Link rel=next to the end of the
// items, scans and audit listings, each with filters and a small page: every
// page respects every filter, and together they list each match once.
func TestNextLinkKeepsTheFilters(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newFullEnv(t, db) // lot L2025-09: 3 items, one batch
		for _, lot := range []string{"L2025-10", "L2025-11"} {
			rec := env.do(t, "POST", "/inventory/batches", "application/json",
				[]byte(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"`+lot+`","count":3}`))
			if rec.Code != http.StatusCreated {
				t.Fatalf("allocate %s: %d %s", lot, rec.Code, rec.Body)
			}
		}
		rec := env.do(t, "POST", "/scanning/scans", "application/json",
			[]byte(`{"codes":["x1","PAD-V0100-L2025-09-00001","x2","PAD-V0100-L2025-10-00001","x3"]}`))
		if rec.Code != http.StatusOK {
			t.Fatalf("scan: %d %s", rec.Code, rec.Body)
		}

		t.Run("items", func(t *testing.T) {
			var uids []string
			for _, page := range env.follow(t, "/inventory/items?lot_number=L2025-10&sort=serial&order=desc&limit=1") {
				var p struct {
					Items []struct{ UID, LotNumber string } `json:"items"`
				}
				if err := json.Unmarshal(page, &p); err != nil {
					t.Fatal(err)
				}
				if len(p.Items) > 1 {
					t.Errorf("a page of %d items, want at most 1 (limit=1)", len(p.Items))
				}
				for _, it := range p.Items {
					uids = append(uids, it.UID)
				}
			}
			want := []string{"PAD-V0100-L2025-10-00003", "PAD-V0100-L2025-10-00002", "PAD-V0100-L2025-10-00001"}
			if len(uids) != len(want) || uids[0] != want[0] || uids[1] != want[1] || uids[2] != want[2] {
				t.Errorf("following the links listed %v, want %v", uids, want)
			}
		})
		t.Run("scans", func(t *testing.T) {
			var payloads []string
			for _, page := range env.follow(t, "/scanning/scans?verdict=malformed&limit=1") {
				var p struct {
					Scans []struct{ Payload, Verdict string } `json:"scans"`
				}
				if err := json.Unmarshal(page, &p); err != nil {
					t.Fatal(err)
				}
				for _, s := range p.Scans {
					if s.Verdict != "malformed" || len(p.Scans) > 1 {
						t.Errorf("page of %d scans holds %s (%s), want one malformed scan", len(p.Scans), s.Payload, s.Verdict)
					}
					payloads = append(payloads, s.Payload)
				}
			}
			if len(payloads) != 3 {
				t.Errorf("following the links listed the scans %v, want the 3 malformed ones", payloads)
			}
		})
		t.Run("audit", func(t *testing.T) {
			n := 0
			for _, page := range env.follow(t, "/audit/events?action=inventory.batch.allocate&outcome=success&limit=1") {
				var p struct {
					Events []struct{ Action, Outcome string } `json:"events"`
				}
				if err := json.Unmarshal(page, &p); err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Events {
					if e.Action != "inventory.batch.allocate" || e.Outcome != "success" || len(p.Events) > 1 {
						t.Errorf("page of %d events holds %s (%s)", len(p.Events), e.Action, e.Outcome)
					}
					n++
				}
			}
			if n != 2 {
				t.Errorf("following the links listed %d allocations, want 2", n)
			}
		})
	})
}
