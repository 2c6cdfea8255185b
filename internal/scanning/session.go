package scanning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/textfield"
)

// Kind is what a session is for.
type Kind string

// The session kinds.
const (
	KindReceive Kind = "receive"
	KindMove    Kind = "move"
	KindCount   Kind = "count" // stocktake
	KindQC      Kind = "qc"
	KindShip    Kind = "ship"
)

// Kinds lists every session kind.
var Kinds = []Kind{KindReceive, KindMove, KindCount, KindQC, KindShip}

// ParseKind validates a kind; "stocktake" is accepted for count.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if k == "stocktake" {
		return KindCount, nil
	}
	if !slices.Contains(Kinds, k) {
		return "", qrmfg.FieldError("kind", "session kind %q is unknown; use receive, move, count (stocktake), qc or ship", s)
	}
	return k, nil
}

// Session states.
const (
	SessionOpen   = "open"
	SessionClosed = "closed"
)

// ExpectedLot names a lot.
type ExpectedLot struct {
	ComponentType string `json:"component_type"`
	VendorCode    string `json:"vendor_code"`
	LotNumber     string `json:"lot_number"`
}

// ExpectedFilter selects the expected items from the inventory.
type ExpectedFilter struct {
	Statuses      []inventory.Status `json:"statuses,omitempty"`
	Location      string             `json:"location,omitempty"`
	ComponentType string             `json:"component_type,omitempty"`
	VendorCode    string             `json:"vendor_code,omitempty"`
	LotNumber     string             `json:"lot_number,omitempty"`
}

// Expected says which items a session expects: exactly one of a lot, an
// inventory filter or a list of uids. A lot or a filter is resolved when
// the session opens (a snapshot); without explicit statuses, void,
// scrapped and defective items are left out.
type Expected struct {
	Lot    *ExpectedLot    `json:"lot,omitempty"`
	Filter *ExpectedFilter `json:"filter,omitempty"`
	UIDs   []string        `json:"uids,omitempty"`
}

// Session collects scans from one or more devices against an expected set.
type Session struct {
	ID       string   `json:"id"`
	Kind     Kind     `json:"kind"`
	Name     string   `json:"name,omitempty"`
	Location string   `json:"location"`
	Expected Expected `json:"expected"`
	// Line is the production line of the session (empty: none).
	Line   string `json:"line,omitempty"`
	Status string `json:"status"`
	// ExpectedCount is the size of the resolved expected set.
	ExpectedCount  int             `json:"expected_count"`
	CreatedBy      string          `json:"created_by,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	ClosedAt       *time.Time      `json:"closed_at,omitempty"`
	ClosedBy       string          `json:"closed_by,omitempty"`
	Reconciliation *Reconciliation `json:"reconciliation,omitempty"`
	// ApplyPending is set when the session is closed with apply and cleared
	// when the applied reconciliation is stored; a closed session without a
	// reconciliation is a close that a crash interrupted (see Resume).
	ApplyPending bool `json:"apply_pending,omitempty"`
}

// Counts are a session's live figures.
type Counts struct {
	Expected   int `json:"expected"`
	Found      int `json:"found"`
	Missing    int `json:"missing"`
	Unexpected int `json:"unexpected"`
	Duplicates int `json:"duplicates"`
	Invalid    int `json:"invalid"`
	Scans      int `json:"scans"`
	// Devices is the number of distinct devices that sent scans.
	Devices int `json:"devices"`
}

// Seen is an item seen in a session.
type Seen struct {
	UID      string    `json:"uid"`
	ScanID   string    `json:"scan_id"`
	Verdict  Verdict   `json:"verdict"`
	Expected bool      `json:"expected"`
	At       time.Time `json:"at"`
}

// Duplicate is an item scanned more than once in a session.
type Duplicate struct {
	UID   string `json:"uid"`
	Extra int    `json:"extra_scans"`
}

// InvalidScan is a scan whose verdict was neither valid nor duplicate.
type InvalidScan struct {
	ScanID  string  `json:"scan_id"`
	Payload string  `json:"payload"`
	UID     string  `json:"uid,omitempty"`
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
}

// Reconciliation is the outcome of a closed session.
type Reconciliation struct {
	Counts     Counts        `json:"counts"`
	Found      []string      `json:"found"`
	Missing    []string      `json:"missing"`
	Unexpected []string      `json:"unexpected"`
	Duplicates []Duplicate   `json:"duplicates"`
	Invalid    []InvalidScan `json:"invalid"`
	// Applied is set when the reconciliation was applied to the inventory.
	Applied *Applied `json:"applied,omitempty"`
}

// Applied reports what applying a reconciliation changed.
type Applied struct {
	Moved   int            `json:"moved"`
	Shipped int            `json:"shipped"`
	Flagged int            `json:"flagged_missing"`
	Failed  []ApplyFailure `json:"failed,omitempty"`
}

// ApplyFailure names an item the apply could not change.
type ApplyFailure struct {
	UID    string `json:"uid"`
	Action string `json:"action"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// SessionRequest opens a session.
type SessionRequest struct {
	Kind     string   `json:"kind"`
	Name     string   `json:"name,omitempty"`
	Location string   `json:"location"`
	Expected Expected `json:"expected"`
	// Line is the production line of the session; a caller restricted to
	// lines must name one of them (or has only one, the default).
	Line string `json:"line,omitempty"`
}

// OpenSession validates the request, resolves the expected set and opens
// the session. Errors: EINVALID naming the field; ENOTFOUND for a lot with
// no items.
func (s *Service) OpenSession(ctx context.Context, req SessionRequest) (Session, error) {
	kind, err := ParseKind(req.Kind)
	if err != nil {
		return Session{}, err
	}
	req.Location, req.Name = strings.TrimSpace(req.Location), strings.TrimSpace(req.Name)
	if len(req.Location) > maxLocationLen {
		return Session{}, qrmfg.FieldError("location", "location is longer than %d characters", maxLocationLen)
	}
	if len(req.Name) > 200 {
		return Session{}, qrmfg.FieldError("name", "name is longer than 200 characters")
	}
	if err := textfield.Check("name", req.Name); err != nil {
		return Session{}, err
	}
	if err := textfield.Check("location", req.Location); err != nil {
		return Session{}, err
	}
	if (kind == KindReceive || kind == KindMove) && req.Location == "" {
		return Session{}, qrmfg.FieldError("location", "a %s session needs the location the items go to", kind)
	}
	line, err := qrmfg.NewObjectLine(ctx, req.Line, "open a session on")
	if err != nil {
		return Session{}, err
	}
	uids, err := s.resolveExpected(ctx, &req.Expected)
	if err != nil {
		return Session{}, err
	}
	sess := Session{ID: qrmfg.NewID(), Kind: kind, Name: req.Name, Location: req.Location, Expected: req.Expected,
		Status: SessionOpen, ExpectedCount: len(uids), CreatedBy: qrmfg.ActorFrom(ctx).ID, Line: line}
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		sess.CreatedAt = tx.Now()
		if err := tx.InsertSession(ctx, sess, uids); err != nil {
			return err
		}
		ev, err := qrmfg.NewEvent(ctx, EventSource, EventSessionOpened, sess.ID, map[string]any{
			"session_id": sess.ID, "kind": kind, "location": sess.Location, "expected": len(uids), "line": sess.Line})
		if err != nil {
			return err
		}
		return tx.Emit(ctx, ev)
	})
	if err != nil {
		return Session{}, err
	}
	return sess, nil
}

func (s *Service) resolveExpected(ctx context.Context, e *Expected) ([]string, error) {
	given := 0
	for _, set := range []bool{e.Lot != nil, e.Filter != nil, e.UIDs != nil} {
		if set {
			given++
		}
	}
	if given != 1 {
		return nil, qrmfg.FieldError("expected", "give exactly one of expected.lot, expected.filter or expected.uids")
	}
	max := s.opt.Limits.MaxExpected
	if e.UIDs != nil {
		if len(e.UIDs) > max {
			return nil, qrmfg.FieldError("expected.uids", "%d uids is over the limit of %d", len(e.UIDs), max)
		}
		seen := make(map[string]bool, len(e.UIDs))
		out := make([]string, 0, len(e.UIDs))
		for i, u := range e.UIDs {
			id, err := partid.Parse(strings.TrimSpace(u))
			if err != nil {
				return nil, qrmfg.FieldError(fmt.Sprintf("expected.uids[%d]", i), "%s", qrmfg.ErrorMessage(err))
			}
			if !seen[id.String()] {
				seen[id.String()] = true
				out = append(out, id.String())
			}
		}
		slices.Sort(out)
		e.UIDs = out
		return out, nil
	}
	var f inventory.ItemFilter
	if e.Lot != nil {
		if err := partid.ValidateLot(e.Lot.ComponentType, e.Lot.VendorCode, e.Lot.LotNumber); err != nil {
			return nil, err
		}
		f = inventory.ItemFilter{ComponentType: e.Lot.ComponentType, VendorCode: e.Lot.VendorCode, LotNumber: e.Lot.LotNumber}
	} else {
		ef := e.Filter
		if len(ef.Statuses) == 0 && ef.Location == "" && ef.ComponentType == "" && ef.VendorCode == "" && ef.LotNumber == "" {
			return nil, qrmfg.FieldError("expected.filter", "the filter selects every item; give statuses, location, component_type, vendor_code or lot_number")
		}
		for i, st := range ef.Statuses {
			p, err := inventory.ParseStatus(string(st))
			if err != nil {
				return nil, qrmfg.FieldError(fmt.Sprintf("expected.filter.statuses[%d]", i), "%s", qrmfg.ErrorMessage(err))
			}
			ef.Statuses[i] = p
		}
		f = inventory.ItemFilter{Statuses: ef.Statuses, Location: ef.Location, ComponentType: ef.ComponentType,
			VendorCode: ef.VendorCode, LotNumber: ef.LotNumber}
	}
	explicit := len(f.Statuses) > 0
	f.Sort, f.Limit = inventory.SortUID, 1000
	var out []string
	for {
		page, err := s.inv.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			if !explicit && slices.Contains(WrongStatus, it.Status) {
				continue
			}
			out = append(out, it.UID)
		}
		if len(out) > max {
			return nil, qrmfg.FieldError("expected", "the expected set has more than %d items", max)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if e.Lot != nil && len(out) == 0 {
		return nil, qrmfg.Errorf(qrmfg.ENOTFOUND, "lot %s-%s-%s has no items in circulation", e.Lot.ComponentType, e.Lot.VendorCode, e.Lot.LotNumber)
	}
	slices.Sort(out)
	return out, nil
}

// SessionView is a session with its live counts and its latest warnings.
type SessionView struct {
	Session
	Counts Counts `json:"counts"`
	// Warnings are the latest scans (up to 50) that were not valid or were
	// of unexpected items.
	Warnings []Scan `json:"warnings"`
}

// SessionCounts returns a session with its live counts: GetSession without
// the warnings, for callers that poll.
func (s *Service) SessionCounts(ctx context.Context, id string) (Session, Counts, error) {
	sess, err := s.getSession(ctx, id)
	if err != nil {
		return Session{}, Counts{}, err
	}
	c, err := s.store.SessionCounts(ctx, id)
	if err != nil {
		return Session{}, Counts{}, err
	}
	return sess, c, nil
}

// GetSession returns a session with its live counts and latest warnings.
func (s *Service) GetSession(ctx context.Context, id string) (SessionView, error) {
	sess, counts, err := s.SessionCounts(ctx, id)
	if err != nil {
		return SessionView{}, err
	}
	v := SessionView{Session: sess, Counts: counts, Warnings: []Scan{}}
	page, err := s.store.ListScans(ctx, ScanFilter{SessionID: id, Limit: 200})
	if err != nil {
		return SessionView{}, err
	}
	for _, sc := range page.Scans {
		if (sc.Verdict != VerdictValid || sc.Unexpected) && len(v.Warnings) < 50 {
			v.Warnings = append(v.Warnings, sc)
		}
	}
	return v, nil
}

// Reconcile computes a session's reconciliation from what was scanned.
func (s *Service) Reconcile(ctx context.Context, id string) (Reconciliation, error) {
	if _, err := s.getSession(ctx, id); err != nil {
		return Reconciliation{}, err
	}
	return s.reconcile(ctx, id)
}

// reconcile is Reconcile for a session the caller may see.
func (s *Service) reconcile(ctx context.Context, id string) (Reconciliation, error) {
	counts, err := s.store.SessionCounts(ctx, id)
	if err != nil {
		return Reconciliation{}, err
	}
	expected, err := s.store.SessionExpected(ctx, id)
	if err != nil {
		return Reconciliation{}, err
	}
	seen, err := s.store.SessionSeen(ctx, id)
	if err != nil {
		return Reconciliation{}, err
	}
	r := Reconciliation{Counts: counts, Found: []string{}, Missing: []string{}, Unexpected: []string{}, Duplicates: []Duplicate{}, Invalid: []InvalidScan{}}
	seenSet := make(map[string]bool, len(seen))
	for _, x := range seen {
		seenSet[x.UID] = true
		if x.Expected {
			r.Found = append(r.Found, x.UID)
		} else {
			r.Unexpected = append(r.Unexpected, x.UID)
		}
	}
	for _, u := range expected {
		if !seenSet[u] {
			r.Missing = append(r.Missing, u)
		}
	}
	dups := map[string]int{}
	f := ScanFilter{SessionID: id, Limit: 1000}
	for {
		page, err := s.store.ListScans(ctx, f)
		if err != nil {
			return Reconciliation{}, err
		}
		for _, sc := range page.Scans {
			switch {
			case sc.Verdict == VerdictDuplicate:
				dups[sc.UID]++
			case sc.Verdict.Invalid():
				r.Invalid = append(r.Invalid, InvalidScan{ScanID: sc.ID, Payload: sc.Payload, UID: sc.UID, Verdict: sc.Verdict, Reason: sc.Reason})
			}
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	for u, n := range dups {
		r.Duplicates = append(r.Duplicates, Duplicate{UID: u, Extra: n})
	}
	slices.SortFunc(r.Duplicates, func(a, b Duplicate) int { return strings.Compare(a.UID, b.UID) })
	slices.Reverse(r.Invalid) // oldest first
	return r, nil
}

// Close closes an open session and returns its reconciliation. With apply,
// the reconciliation is applied to the inventory through its service:
// receive, move and count sessions move every item seen (found or
// unexpected) to the session's location; ship sessions move found items to
// shipped; every kind flags missing items with the attribute "missing"
// ({"session_id", "kind", "location", "at"}, an item history entry), and
// clears that attribute on the items it found. Items the inventory refuses
// to change are listed in Applied.Failed; the rest is still applied.
//
// Errors: ENOTFOUND; ECONFLICT when the session is already closed.
func (s *Service) Close(ctx context.Context, id string, apply bool) (Session, error) {
	var closed Session
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		sess, err := tx.LockSession(ctx, id)
		if err == nil {
			err = checkSession(ctx, sess)
		}
		if err != nil {
			return err
		}
		if sess.Status != SessionOpen {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "session %s is already closed", id)
		}
		now := tx.Now()
		sess.Status, sess.ClosedAt, sess.ClosedBy, sess.ApplyPending = SessionClosed, &now, qrmfg.ActorFrom(ctx).ID, apply
		if err := tx.UpdateSession(ctx, sess); err != nil {
			return err
		}
		closed = sess
		return nil
	})
	if err != nil {
		return Session{}, err
	}
	return s.finishClose(ctx, closed)
}

// finishClose computes the reconciliation of a closed session, applies it
// when the close asked for it, and stores it with the closing event. The
// session no longer takes scans, so the reconciliation is final; every step
// of the apply is idempotent, so a close interrupted by a crash is finished
// by Resume with the same outcome.
func (s *Service) finishClose(ctx context.Context, closed Session) (Session, error) {
	id := closed.ID
	r, err := s.reconcile(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if closed.ApplyPending {
		r.Applied = s.apply(ctx, closed, r)
	}
	closed.Reconciliation, closed.ApplyPending = &r, false
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.UpdateSession(ctx, closed); err != nil {
			return err
		}
		ev, err := qrmfg.NewEvent(ctx, EventSource, EventSessionClosed, id, map[string]any{
			"session_id": id, "kind": closed.Kind, "location": closed.Location, "counts": r.Counts, "applied": r.Applied != nil})
		if err != nil {
			return err
		}
		return tx.Emit(ctx, ev)
	})
	if err != nil {
		return Session{}, err
	}
	s.hub.publish(id, SessionUpdate{Type: "closed", Counts: &r.Counts, Session: &closed})
	return closed, nil
}

// Resume finishes the closes that a crash or a shutdown interrupted: closed
// sessions without a stored reconciliation. It runs as the system actor.
func (s *Service) Resume(ctx context.Context) error {
	ctx = qrmfg.WithActor(ctx, qrmfg.SystemActor)
	pending, err := s.store.UnfinishedCloses(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, sess := range pending {
		if _, err := s.finishClose(ctx, sess); err != nil {
			errs = append(errs, fmt.Errorf("finish closing session %s: %w", sess.ID, err))
			continue
		}
		s.log.Info("finished an interrupted session close", "session", sess.ID, "applied", sess.ApplyPending)
	}
	return errors.Join(errs...)
}

func (s *Service) apply(ctx context.Context, sess Session, r Reconciliation) *Applied {
	a := &Applied{Failed: []ApplyFailure{}}
	fail := func(uid, action string, err error) {
		a.Failed = append(a.Failed, ApplyFailure{UID: uid, Action: action, Code: qrmfg.ErrorCode(err), Reason: qrmfg.ErrorMessage(err)})
	}
	reason := fmt.Sprintf("%s session %s", sess.Kind, sess.ID)
	clear := json.RawMessage(`{"missing":null}`)
	switch sess.Kind {
	case KindReceive, KindMove, KindCount:
		if sess.Location == "" {
			break
		}
		for _, uid := range slices.Concat(r.Found, r.Unexpected) {
			loc := sess.Location
			if _, err := s.inv.Update(ctx, uid, inventory.ItemUpdate{Location: &loc, Attributes: clear, Reason: reason}); err != nil {
				fail(uid, "move", err)
				continue
			}
			a.Moved++
		}
	case KindShip:
		for _, uid := range r.Found {
			// Found items of a ship session were available or reserved when
			// scanned; one already shipped was shipped by an interrupted
			// earlier run of this apply.
			if it, err := s.inv.Item(ctx, uid); err == nil && it.Status == inventory.StatusShipped {
				a.Shipped++
				continue
			}
			if _, err := s.inv.Transition(ctx, inventory.TransitionRequest{UID: uid, To: inventory.StatusShipped, Reason: reason}); err != nil {
				fail(uid, "ship", err)
				continue
			}
			a.Shipped++
		}
	}
	at := time.Now().UTC().Format(time.RFC3339)
	if sess.ClosedAt != nil {
		at = sess.ClosedAt.UTC().Format(time.RFC3339) // the same flag when a resumed apply runs again
	}
	for _, uid := range r.Missing {
		flag, _ := json.Marshal(map[string]any{"missing": map[string]string{
			"session_id": sess.ID, "kind": string(sess.Kind), "location": sess.Location, "at": at}})
		if _, err := s.inv.Update(ctx, uid, inventory.ItemUpdate{Attributes: flag, Reason: "missing in " + reason}); err != nil {
			fail(uid, "flag_missing", err)
			continue
		}
		a.Flagged++
	}
	return a
}

// SessionUpdate is pushed to a session's live subscribers.
type SessionUpdate struct {
	// Type is "scans" (new scans with the counts after them) or "closed".
	Type    string   `json:"type"`
	Scans   []Scan   `json:"scans,omitempty"`
	Counts  *Counts  `json:"counts,omitempty"`
	Session *Session `json:"session,omitempty"`
}

// Subscribe returns the live updates of a session in this process and a
// function that ends the subscription. A slow subscriber misses updates
// rather than slowing scans down; in the distributed shape updates from
// other processes do not arrive, so subscribers should poll GetSession too.
func (s *Service) Subscribe(id string) (<-chan SessionUpdate, func()) { return s.hub.subscribe(id) }

type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan SessionUpdate]struct{}
}

func newHub() *hub { return &hub{subs: map[string]map[chan SessionUpdate]struct{}{}} }

func (h *hub) subscribe(id string) (<-chan SessionUpdate, func()) {
	ch := make(chan SessionUpdate, 32)
	h.mu.Lock()
	if h.subs[id] == nil {
		h.subs[id] = map[chan SessionUpdate]struct{}{}
	}
	h.subs[id][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[id], ch)
		if len(h.subs[id]) == 0 {
			delete(h.subs, id)
		}
		h.mu.Unlock()
	}
}

func (h *hub) publish(id string, u SessionUpdate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[id] {
		select {
		case ch <- u:
		default:
		}
	}
}
