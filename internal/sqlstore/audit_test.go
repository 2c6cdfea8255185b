package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

func auditLog(t testing.TB, db *sqlstore.DB, every int64) *audit.Log {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.New(db.Audit(), audit.Config{SigningKey: priv, CheckpointEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendN(t testing.TB, l *audit.Log, n int) {
	t.Helper()
	ctx := qrmfg.WithRequestID(qrmfg.WithActor(context.Background(), qrmfg.Actor{Kind: "user", ID: "u1", Name: "alice"}), "req-1")
	for i := range n {
		var after any
		if i%3 == 0 {
			after = map[string]any{"status": "engraved", "n": i}
		}
		if _, err := l.Record(ctx, "inventory.item.transition", "item", fmt.Sprintf("PAD-V0100-L2025-09-%05d", i+1), nil, after, audit.Success); err != nil {
			t.Fatal(err)
		}
	}
}

// rawExec runs SQL with ? placeholders on either dialect.
func rawExec(t *testing.T, db *sqlstore.DB, q string, args ...any) {
	t.Helper()
	if db.Dialect() == sqlstore.Postgres {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := db.SQL().Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestAuditTamper is T12: six kinds of tampering, each on a fresh log of 50
// entries with a signed checkpoint every 10 exported "off the box" first.
// Chain verification names the first bad row of (a)–(d); (e) and (f) pass the
// chain check and are caught only against the exported checkpoints.
func TestAuditTamper(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db0 *sqlstore.DB) {
		type tamper struct {
			name        string
			do          func(t *testing.T, db *sqlstore.DB)
			chainCaught bool
			want        audit.Problem // Seq and Kind
		}
		tampers := []tamper{
			{"edit a field", func(t *testing.T, db *sqlstore.DB) {
				rawExec(t, db, `UPDATE audit_entries SET object_id = 'PAD-FORGED' WHERE seq = 17`)
			}, true, audit.Problem{Seq: 17, Kind: audit.ProblemEdited}},
			{"delete a row", func(t *testing.T, db *sqlstore.DB) {
				rawExec(t, db, `DELETE FROM audit_entries WHERE seq = 17`)
			}, true, audit.Problem{Seq: 17, Kind: audit.ProblemMissing}},
			{"insert a row", func(t *testing.T, db *sqlstore.DB) {
				// A careful forger: renumber the tail and insert a row that links to 16 with a correct hash.
				rawExec(t, db, `UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= 17`)
				rawExec(t, db, `UPDATE audit_entries SET seq = seq - 999999 WHERE seq >= 1000000`)
				prev, err := db.Audit().Entry(context.Background(), 16)
				if err != nil {
					t.Fatal(err)
				}
				e := audit.Entry{Seq: 17, Time: prev.Time, Actor: audit.Actor{Kind: "user", ID: "u1", Name: "alice"},
					Action: "inventory.item.transition", ObjectType: "item", ObjectID: "PAD-FORGED", Outcome: audit.Success, PrevHash: prev.Hash}
				e.Hash = e.ComputeHash()
				ts := any(e.Time.Format(audit.TimeLayout))
				if db.Dialect() == sqlstore.Postgres {
					ts = e.Time
				}
				rawExec(t, db, `INSERT INTO audit_entries (seq, time, actor_kind, actor_id, actor_name, action, object_type, object_id, request_id, outcome, prev_hash, hash)
					VALUES (17, ?, 'user', 'u1', 'alice', 'inventory.item.transition', 'item', 'PAD-FORGED', '', 'success', ?, ?)`, ts, e.PrevHash.String(), e.Hash.String())
			}, true, audit.Problem{Seq: 17, Kind: audit.ProblemInserted}},
			{"reorder two rows", func(t *testing.T, db *sqlstore.DB) {
				rawExec(t, db, `UPDATE audit_entries SET seq = -1 WHERE seq = 20`)
				rawExec(t, db, `UPDATE audit_entries SET seq = 20 WHERE seq = 30`)
				rawExec(t, db, `UPDATE audit_entries SET seq = 30 WHERE seq = -1`)
			}, true, audit.Problem{Seq: 20, Kind: audit.ProblemOutOfPlace}},
			{"truncate the tail", func(t *testing.T, db *sqlstore.DB) {
				rawExec(t, db, `DELETE FROM audit_entries WHERE seq > 40`)
				rawExec(t, db, `UPDATE audit_head SET seq = 40, hash = (SELECT hash FROM audit_entries WHERE seq = 40) WHERE id = 1`)
			}, false, audit.Problem{Seq: 41, Kind: audit.ProblemTruncated}},
			{"rewrite the chain from row 25 without the signing key", func(t *testing.T, db *sqlstore.DB) {
				ctx := context.Background()
				var all []audit.Entry
				if err := db.Audit().Scan(ctx, audit.Filter{}, func(e audit.Entry) error { all = append(all, e); return nil }); err != nil {
					t.Fatal(err)
				}
				prev := all[23].Hash
				for _, e := range all[24:] {
					e.Actor.Name = "mallory"
					e.PrevHash = prev
					e.Hash = e.ComputeHash()
					prev = e.Hash
					rawExec(t, db, `UPDATE audit_entries SET actor_name = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Actor.Name, e.PrevHash.String(), e.Hash.String(), e.Seq)
				}
				rawExec(t, db, `UPDATE audit_head SET hash = ? WHERE id = 1`, prev.String())
				// The stored checkpoints are replaced by ones signed with the forger's key.
				_, forger, _ := ed25519.GenerateKey(nil)
				cps, _ := db.Audit().Checkpoints(ctx)
				rawExec(t, db, `DELETE FROM audit_checkpoints`)
				for _, c := range cps {
					if c.Size >= 25 {
						c.Root = prev
						if e, err := db.Audit().Entry(ctx, c.Size); err == nil {
							c.Root = e.Hash
						}
					}
					c.Signature = ed25519.Sign(forger, c.Message())
					if err := db.Audit().SaveCheckpoint(ctx, c); err != nil {
						t.Fatal(err)
					}
				}
			}, false, audit.Problem{Seq: 30, Kind: audit.ProblemRewritten}},
		}
		detected := 0
		for _, tc := range tampers {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				db := sqltest.Open(t, db0.Dialect())
				l := auditLog(t, db, 10)
				appendN(t, l, 50)
				if r, err := l.Verify(ctx); err != nil || !r.OK || r.Entries != 50 {
					t.Fatalf("before tampering: %+v, %v", r, err)
				}
				// The outside copy: exported as JSON before the attack.
				cps, err := l.Checkpoints(ctx)
				if err != nil || len(cps) != 5 {
					t.Fatalf("checkpoints: %d, %v", len(cps), err)
				}
				var outside bytes.Buffer
				if err := audit.WriteCheckpoints(&outside, cps); err != nil {
					t.Fatal(err)
				}
				tc.do(t, db)
				chain, err := l.Verify(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if chain.OK == tc.chainCaught {
					t.Fatalf("chain verification OK=%v, want %v (%+v)", chain.OK, !tc.chainCaught, chain.FirstBad)
				}
				exported, err := audit.ReadCheckpoints(&outside)
				if err != nil {
					t.Fatal(err)
				}
				r, err := l.VerifyAgainst(ctx, l.PublicKey(), exported...)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK || r.FirstBad.Seq != tc.want.Seq || r.FirstBad.Kind != tc.want.Kind {
					t.Fatalf("first bad = %+v, want seq %d kind %s", r.FirstBad, tc.want.Seq, tc.want.Kind)
				}
				t.Logf("%s: detected at row %d (%s): %s", tc.name, r.FirstBad.Seq, r.FirstBad.Kind, r.FirstBad.Reason)
				detected++
				if tc.want.Kind == audit.ProblemRewritten {
					// The forged checkpoints in the database do not verify either.
					s, err := l.VerifyStoredCheckpoints(ctx)
					if err != nil || s.OK || s.FirstBad.Kind != audit.ProblemCheckpoint {
						t.Errorf("stored forged checkpoints: %+v, %v", s.FirstBad, err)
					}
				}
			})
		}
		t.Logf("T12 %s: %d of %d tamper kinds detected with the first bad row named", db0.Dialect(), detected, len(tampers))
	})
}

func TestAuditConcurrentAppends(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l := auditLog(t, db, 0)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { appendN(t, l, 25) })
		}
		// Verification while appends run sees a consistent prefix.
		done := make(chan struct{})
		verified := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-done:
					verified <- n
					return
				default:
				}
				r, err := l.Verify(context.Background())
				if err != nil || !r.OK {
					t.Errorf("verify during appends: %+v (first bad %+v), %v", r, r.FirstBad, err)
				}
				n++
			}
		}()
		wg.Wait()
		close(done)
		t.Logf("%d verifications ran during the appends", <-verified)
		r, err := l.Verify(context.Background())
		if err != nil || !r.OK || r.Entries != 200 {
			t.Fatalf("after 8×25 concurrent appends: %+v (first bad %+v), %v", r, r.FirstBad, err)
		}
	})
}

func TestAuditListAndExport(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		l := auditLog(t, db, 0)
		t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
		mk := func(i int, actor, action, outcome string, after string) {
			e := audit.Entry{Time: t0.Add(time.Duration(i) * time.Minute), Actor: audit.Actor{Kind: "user", ID: actor, Name: actor},
				Action: action, ObjectType: "item", ObjectID: fmt.Sprintf("obj-%d", i%3), Outcome: audit.Outcome(outcome), RequestID: "r"}
			if after != "" {
				e.After = json.RawMessage(after)
			}
			if _, err := l.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		mk(0, "alice", "auth.login", "success", "")
		mk(1, "bob", "auth.login", "denied", "")
		mk(2, "alice", "inventory.item.transition", "success", `{ "status" : "void" }`)
		mk(3, "alice", "engraving.machine.unlock", "success", "")
		mk(4, "=cmd|' /C calc'!A0", "auth.refresh_reuse", "denied", "")
		seqs := func(f audit.Filter) string {
			es, _, err := l.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, e := range es {
				s = append(s, fmt.Sprint(e.Seq))
			}
			return strings.Join(s, ",")
		}
		for _, tc := range []struct {
			name string
			f    audit.Filter
			want string
		}{
			{"all", audit.Filter{}, "1,2,3,4,5"},
			{"actor", audit.Filter{ActorID: "alice"}, "1,3,4"},
			{"action prefix", audit.Filter{Action: "auth.*"}, "1,2,5"},
			{"action exact", audit.Filter{Action: "auth.login"}, "1,2"},
			{"object", audit.Filter{ObjectType: "item", ObjectID: "obj-0"}, "1,4"},
			{"outcome", audit.Filter{Outcome: audit.Denied}, "2,5"},
			{"time range", audit.Filter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, "2,3"},
			{"cursor", audit.Filter{AfterSeq: 3}, "4,5"},
		} {
			if got := seqs(tc.f); got != tc.want {
				t.Errorf("%s: seqs %s, want %s", tc.name, got, tc.want)
			}
		}
		page, next, err := l.List(ctx, audit.Filter{Limit: 2})
		if err != nil || len(page) != 2 || next != 2 {
			t.Fatalf("page 1: %d entries, next %d, %v", len(page), next, err)
		}
		if got := seqs(audit.Filter{Limit: 2, AfterSeq: next}); got != "3,4" {
			t.Errorf("page 2: %s", got)
		}
		if _, _, err := l.List(ctx, audit.Filter{Limit: 5000}); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("limit 5000: %v", err)
		}
		// JSON is stored compacted, exactly as hashed.
		e3, _ := db.Audit().Entry(ctx, 3)
		if string(e3.After) != `{"status":"void"}` {
			t.Errorf("after = %s", e3.After)
		}
		var csvOut bytes.Buffer
		if err := audit.WriteCSV(ctx, &csvOut, db.Audit(), audit.Filter{}); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&csvOut).ReadAll()
		if err != nil || len(recs) != 6 || recs[0][0] != "seq" {
			t.Fatalf("CSV: %d records, %v", len(recs), err)
		}
		if recs[5][3] != "'=cmd|' /C calc'!A0" || recs[3][11] != `{"status":"void"}` {
			t.Errorf("CSV cells: actor %q, after %q", recs[5][3], recs[3][11])
		}
		var jsonOut bytes.Buffer
		if err := audit.WriteJSON(ctx, &jsonOut, db.Audit(), audit.Filter{Action: "auth.*"}); err != nil {
			t.Fatal(err)
		}
		var es []audit.Entry
		if err := json.Unmarshal(jsonOut.Bytes(), &es); err != nil || len(es) != 3 {
			t.Fatalf("JSON export: %d entries, %v\n%s", len(es), err, jsonOut.String())
		}
		// An exported entry still verifies on its own.
		if !bytes.Equal(es[0].ComputeHash(), es[0].Hash) {
			t.Error("exported entry does not match its hash")
		}
	})
}

// TestAuditVerifyThroughput reports how fast a chain verifies.
func TestAuditVerifyThroughput(t *testing.T) {
	t.Parallel()
	db := sqltest.Open(t, sqlstore.SQLite)
	l := auditLog(t, db, 1000)
	const n = 2000
	start := time.Now()
	appendN(t, l, n)
	appendDur := time.Since(start)
	start = time.Now()
	r, err := l.VerifyStoredCheckpoints(context.Background())
	if err != nil || !r.OK || r.Entries != n {
		t.Fatalf("%+v, %v", r, err)
	}
	d := time.Since(start)
	t.Logf("sqlite: %d appends in %v (%.0f/s); verify with 2 checkpoints in %v (%.0f entries/s)", n, appendDur.Round(time.Millisecond),
		n/appendDur.Seconds(), d.Round(time.Millisecond), n/d.Seconds())
}

// TestAuditFollowsCommittedChanges: a change's event, written in the change's
// transaction, becomes one audit entry naming who caused it, whatever the
// number of deliveries; skipped event types leave none; the chain verifies.
func TestAuditFollowsCommittedChanges(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l := auditLog(t, db, 0)
		handle := l.HandleEvent(db.Audit(), "scanning.scan.recorded")
		ctx := qrmfg.WithRequestID(qrmfg.WithActor(context.Background(), qrmfg.Actor{Kind: "user", ID: "u7", Name: "anna"}), "req-42")
		inv := newService(db)
		b, err := inv.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L1", Count: 2})
		if err != nil {
			t.Fatal(err)
		}
		evs, err := db.Outbox().Unsent(context.Background(), 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("outbox: %d events, %v", len(evs), err)
		}
		ev := evs[0].Event
		if ev.ActorID != "u7" || ev.ActorName != "anna" || ev.CorrelationID != "req-42" {
			t.Fatalf("the event does not say who caused it: %+v", ev)
		}
		for range 3 { // at-least-once delivery
			if err := handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		scan := ev
		scan.ID, scan.Type = qrmfg.NewID(), "scanning.scan.recorded"
		if err := handle(context.Background(), scan); err != nil {
			t.Fatal(err)
		}
		es, _, err := l.List(context.Background(), audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 {
			t.Fatalf("%d audit entries for one change delivered three times and one skipped event, want 1", len(es))
		}
		e := es[0]
		if e.Actor.Name != "anna" || e.Action != "inventory.batch.allocated" || e.ObjectType != "inventory.batch" ||
			e.ObjectID != b.ID || e.RequestID != "req-42" || e.Outcome != audit.Success || len(e.After) == 0 {
			t.Fatalf("entry %+v", e)
		}
		if rep, err := l.Verify(context.Background()); err != nil || !rep.OK {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}
