package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// TestLineAdminGrantsOnlyItsLines (item 13): an admin restricted to LINE-1
// cannot lift its own restriction, create users or API keys for other
// lines (or for every line), nor reach the accounts beyond its lines (the
// unrestricted admin, a LINE-2 user): 403 for a grant, 404 as for a missing
// account for the others. It still manages LINE-1.
func TestLineAdminGrantsOnlyItsLines(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_RATE_LIMIT=100000", "QRMFG_RATE_LIMIT_BURST=100000", "QRMFG_RATE_LIMIT_IP=100000")
	created := func(body string) map[string]any {
		t.Helper()
		r := s.json("POST", "/auth/users", body)
		if r.status != 201 {
			t.Fatalf("create user %s: %d %s", body, r.status, r.body)
		}
		return r.json(t)
	}
	self := created(`{"username":"admin1","password":"line one admin pw","role":"admin","lines":["LINE-1"]}`)["id"].(string)
	other := created(`{"username":"op2","password":"line two operator","role":"operator","lines":["LINE-2"]}`)["id"].(string)
	var me map[string]any
	_ = json.Unmarshal(s.json("GET", "/auth/me", "").body, &me)
	root := me["id"].(string)
	a1 := "Bearer " + s.login("admin1", "line one admin pw")

	refused := 0
	expect := func(method, path, body string, want int) {
		t.Helper()
		r := s.json(method, path, body, "Authorization", a1)
		if r.status != want {
			t.Errorf("%s %s %s as the LINE-1 admin: %d %.300s, want %d", method, path, body, r.status, r.body, want)
			return
		}
		refused++
	}
	for _, body := range []string{`{"lines":[]}`, `{"lines":["LINE-1","LINE-2"]}`, `{"lines":["LINE-2"]}`} {
		expect("PATCH", "/auth/users/"+self, body, 403)
	}
	for i, lines := range []string{``, `,"lines":[]`, `,"lines":["LINE-2"]`, `,"lines":["LINE-1","LINE-2"]`} {
		expect("POST", "/auth/users", `{"username":"x`+strconv.Itoa(i)+`","password":"some password 1","role":"admin"`+lines+`}`, 403)
		expect("POST", "/auth/api-keys", `{"name":"k","role":"admin","scopes":["*"]`+lines+`}`, 403)
	}
	for _, id := range []string{root, other} {
		expect("GET", "/auth/users/"+id, "", 404)
		expect("PATCH", "/auth/users/"+id, `{"disabled":true}`, 404)
		expect("PATCH", "/auth/users/"+id, `{"lines":["LINE-1"]}`, 404)
		expect("POST", "/auth/users/"+id+"/password", `{"password":"taken over pw 1"}`, 404)
	}
	r := s.json("GET", "/auth/users", "", "Authorization", a1)
	if r.status != 200 || strings.Contains(string(r.body), `"username":"admin"`) || strings.Contains(string(r.body), "op2") {
		t.Errorf("the LINE-1 admin's user list shows accounts beyond LINE-1: %d %s", r.status, r.body)
	}
	// Still the LINE-1 admin, with a token that still works, managing LINE-1.
	if r := s.json("GET", "/auth/me", "", "Authorization", a1); r.status != 200 || !strings.Contains(string(r.body), `"lines":["LINE-1"]`) {
		t.Errorf("/auth/me of the LINE-1 admin: %d %s", r.status, r.body)
	}
	if r := s.json("POST", "/auth/users", `{"username":"op1","password":"line one operator","role":"operator","lines":["LINE-1"]}`, "Authorization", a1); r.status != 201 {
		t.Errorf("a LINE-1 user by the LINE-1 admin: %d %s", r.status, r.body)
	}
	if r := s.json("POST", "/auth/api-keys", `{"name":"k1","role":"operator","scopes":["inventory.*"],"lines":["LINE-1"]}`, "Authorization", a1); r.status != 201 {
		t.Errorf("a LINE-1 key by the LINE-1 admin: %d %s", r.status, r.body)
	}
	// Nothing beyond LINE-1 changed.
	if r := s.json("GET", "/auth/users/"+other, ""); r.status != 200 || !strings.Contains(string(r.body), `"disabled":false`) {
		t.Errorf("the LINE-2 user as the admin sees it: %d %s", r.status, r.body)
	}
	t.Logf("RESULT lines-grants refused=%d pass=%t", refused, !t.Failed())
}
