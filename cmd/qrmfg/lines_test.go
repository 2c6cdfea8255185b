package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestProductionLinesOverHTTP (T6, object level): an operator restricted to
// LINE-1 probes 250 items of LINE-2 by reading and by writing, and LINE-2's
// batch, machine, job and session: every probe is a 404 like a missing
// object, nothing changes, and its listings show no LINE-2 object. A LINE-1
// supervisor finds no LINE-2 data in the analytics, thresholds, alerts and
// audit trail, cannot touch LINE-2's threshold or alert, and an import dry
// run answers for a LINE-2 uid as for a free one.
func TestProductionLinesOverHTTP(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_RATE_LIMIT=100000", "QRMFG_RATE_LIMIT_BURST=100000", "QRMFG_RATE_LIMIT_IP=100000")
	must := func(r response, want int, what string) map[string]any {
		t.Helper()
		if r.status != want {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		return m
	}
	must(s.json("POST", "/auth/users", `{"username":"op1","password":"line one password","role":"operator","lines":["LINE-1"]}`), 201, "user")
	op := "Bearer " + s.login("op1", "line one password")
	must(s.json("POST", "/auth/users", `{"username":"sup1","password":"line one password","role":"supervisor","lines":["LINE-1"]}`), 201, "user")
	sup := "Bearer " + s.login("sup1", "line one password")
	must(s.json("POST", "/auth/users", `{"username":"op2","password":"line two password","role":"operator","lines":["LINE-2"]}`), 201, "user")
	op2 := "Bearer " + s.login("op2", "line two password")
	b2 := must(s.json("POST", "/inventory/batches", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2","count":250,"line":"LINE-2"}`), 201, "LINE-2 batch")
	must(s.json("POST", "/inventory/batches", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":5,"line":"LINE-1"}`), 201, "LINE-1 batch")
	m2 := must(s.json("POST", "/engraving/machines", `{"name":"laser-l2","address":"tcp://127.0.0.1:9","line":"LINE-2","work_area":{"width_mm":100,"height_mm":100}}`), 201, "LINE-2 machine")
	j2 := must(s.json("POST", "/engraving/jobs", `{"item_uid":"PAD-V0100-L2-00001","machine_id":"`+m2["id"].(string)+`","laser_settings":{"power":50,"speed":1000,"passes":1,"depth":0}}`), 201, "LINE-2 job")
	s2 := must(s.json("POST", "/scanning/sessions", `{"kind":"count","location":"R2","line":"LINE-2","expected":{"lot":{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2"}}}`), 201, "LINE-2 session")
	// LINE-2's own data: a vendor and lot only it has, a threshold and its
	// alert, a LINE-2 user's request body in the audit trail.
	must(s.json("POST", "/inventory/batches", `{"component_type":"CAP","vendor_code":"V0222","lot_number":"SECRETLOT","count":3}`, "Authorization", op2), 201, "LINE-2 user's batch")
	must(s.json("PATCH", "/inventory/items/CAP-V0222-SECRETLOT-00001", `{"location":"SECRET-RACK"}`, "Authorization", op2), 200, "LINE-2 user's change")
	must(s.json("PUT", "/inventory/thresholds/CAP", `{"line":"LINE-2","min_available":5}`), 200, "LINE-2 threshold")
	alerts := must(s.do("GET", "/inventory/alerts?state=open", "", ""), 200, "admin alerts")["alerts"].([]any)
	if len(alerts) != 1 {
		t.Fatalf("open alerts as the admin: %v", alerts)
	}
	alert2 := alerts[0].(map[string]any)["id"].(string)

	leaks := 0
	probe := func(method, path, body string) {
		r := s.json(method, path, body, "Authorization", op)
		if r.status != 404 {
			leaks++
			t.Errorf("%s %s as a LINE-1 operator: %d %.200s", method, path, r.status, r.body)
		}
	}
	for i := 1; i <= 250; i++ {
		uid := fmt.Sprintf("PAD-V0100-L2-%05d", i)
		if i%2 == 0 {
			probe("GET", "/inventory/items/"+uid, "")
		} else {
			probe("POST", "/inventory/items/"+uid+"/transitions", `{"to":"engraved"}`)
		}
		probe("PATCH", "/inventory/items/"+uid, `{"location":"STOLEN"}`)
	}
	probe("GET", "/inventory/batches/"+b2["id"].(string), "")
	probe("GET", "/engraving/machines/"+m2["id"].(string), "")
	probe("POST", "/engraving/machines/"+m2["id"].(string)+"/home", "")
	probe("GET", "/engraving/jobs/"+j2["id"].(string), "")
	probe("POST", "/engraving/jobs/"+j2["id"].(string)+"/cancel", "")
	probe("GET", "/scanning/sessions/"+s2["id"].(string), "")
	probe("POST", "/scanning/sessions/"+s2["id"].(string)+"/close", `{"apply":false}`)
	supProbe := func(method, path, body string, want int) {
		r := s.json(method, path, body, "Authorization", sup)
		if r.status != want {
			leaks++
			t.Errorf("%s %s as a LINE-1 supervisor: %d %.200s, want %d", method, path, r.status, r.body, want)
		}
	}
	supProbe("POST", "/inventory/alerts/"+alert2+"/acknowledge", "", 404)
	supProbe("DELETE", "/inventory/thresholds/CAP?line=LINE-2", "", 404)
	supProbe("PUT", "/inventory/thresholds/CAP", `{"line":"LINE-2","min_available":0}`, 403)
	// An import dry run: a LINE-2 uid is as free as an unused one.
	dry := func(uid string) string {
		r := s.do("POST", "/inventory/import?dry_run=true", "text/csv", "uid,line\n"+uid+",LINE-1\n", "Authorization", sup)
		return fmt.Sprint(r.status, strings.ReplaceAll(string(r.body), uid, "UID"))
	}
	if taken, free := dry("PAD-V0100-L2-00001"), dry("PAD-V0100-L2-09999"); taken != free {
		leaks++
		t.Errorf("import dry run as LINE-1: a LINE-2 uid %s, a free uid %s", taken, free)
	}

	// Nothing changed, as the admin sees it.
	page := must(s.do("GET", "/inventory/items?line=LINE-2&status=generated&component_type=PAD&limit=1000", "", ""), 200, "admin listing")
	if n := len(page["items"].([]any)); n != 250 {
		t.Errorf("LINE-2 items still generated: %d of 250", n)
	}
	// The operator's listings hold no LINE-2 object.
	for _, path := range []string{"/inventory/items?limit=1000", "/engraving/jobs", "/engraving/machines", "/inventory/export.csv",
		"/inventory/analytics", "/inventory/thresholds", "/inventory/alerts", "/audit/events?limit=1000", "/audit/export?format=json", "/audit/export?format=csv"} {
		who := op
		if strings.HasPrefix(path, "/audit/") {
			who = sup
		}
		r := s.do("GET", path, "", "", "Authorization", who)
		if b := string(r.body); r.status != 200 || strings.Contains(b, "LINE-2") || strings.Contains(b, "PAD-V0100-L2-") ||
			strings.Contains(b, "L2") || strings.Contains(b, "V0222") || strings.Contains(b, "SECRET") {
			leaks++
			t.Errorf("GET %s as a LINE-1 user shows LINE-2: %d %.300s", path, r.status, r.body)
		}
	}
	if items := must(s.do("GET", "/inventory/items?limit=1000", "", "", "Authorization", op), 200, "own listing")["items"].([]any); len(items) != 5 {
		t.Errorf("the LINE-1 operator lists %d items, want its line's 5", len(items))
	}
	t.Logf("RESULT T6-lines probes=%d cross_line_reads_or_writes=%d pass=%t", 500+7+4+3+1+6, leaks, leaks == 0 && !t.Failed())
}
