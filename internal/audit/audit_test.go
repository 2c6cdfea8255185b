package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func sample() Entry {
	return Entry{Time: time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC), Actor: Actor{Kind: "user", ID: "u1", Name: "alice"},
		Action: "auth.login", ObjectType: "user", ObjectID: "u1", After: json.RawMessage(`{"a":1}`), RequestID: "r1",
		Outcome: Success, PrevHash: Genesis}
}

// TestHashCoversEveryField changes each hashed field in turn; each change
// must change the hash, and the encoding must not let bytes move between
// adjacent fields.
func TestHashCoversEveryField(t *testing.T) {
	t.Parallel()
	base := sample().ComputeHash()
	if !bytes.Equal(base, sample().ComputeHash()) {
		t.Fatal("hash is not deterministic")
	}
	for name, mod := range map[string]func(*Entry){
		"time":        func(e *Entry) { e.Time = e.Time.Add(time.Microsecond) },
		"actor kind":  func(e *Entry) { e.Actor.Kind = "api_key" },
		"actor id":    func(e *Entry) { e.Actor.ID = "u2" },
		"actor name":  func(e *Entry) { e.Actor.Name = "bob" },
		"action":      func(e *Entry) { e.Action = "auth.logout" },
		"object type": func(e *Entry) { e.ObjectType = "item" },
		"object id":   func(e *Entry) { e.ObjectID = "u2" },
		"before":      func(e *Entry) { e.Before = json.RawMessage(`{}`) },
		"after":       func(e *Entry) { e.After = json.RawMessage(`{"a":2}`) },
		"request id":  func(e *Entry) { e.RequestID = "r2" },
		"outcome":     func(e *Entry) { e.Outcome = Denied },
		"prev hash":   func(e *Entry) { e.PrevHash = bytes.Repeat([]byte{1}, 32) },
		"field shift": func(e *Entry) { e.ObjectType, e.ObjectID = "useru", "1" },
	} {
		e := sample()
		mod(&e)
		if bytes.Equal(e.ComputeHash(), base) {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	e := sample()
	e.After = json.RawMessage("{ \"a\" :\n 1 }")
	e.Time = e.Time.Add(789 * time.Nanosecond)
	n, err := Normalize(e)
	if err != nil || string(n.After) != `{"a":1}` || n.Time.Nanosecond()%1000 != 0 {
		t.Fatalf("Normalize = %s %v, %v", n.After, n.Time, err)
	}
	for name, mod := range map[string]func(*Entry){
		"no action":   func(e *Entry) { e.Action = "" },
		"bad outcome": func(e *Entry) { e.Outcome = "maybe" },
		"no actor":    func(e *Entry) { e.Actor.Kind = "" },
		"bad JSON":    func(e *Entry) { e.Before = json.RawMessage(`{`) },
	} {
		e := sample()
		mod(&e)
		if _, err := Normalize(e); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCheckpointSignature(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(nil)
	c := Checkpoint{Size: 10, Root: sample().ComputeHash(), Time: time.Now().UTC().Truncate(time.Microsecond), KeyID: KeyID(pub)}
	c.Signature = ed25519.Sign(priv, c.Message())
	if err := VerifyCheckpoint(pub, c); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Checkpoint){
		"size": func(c *Checkpoint) { c.Size = 9 },
		"root": func(c *Checkpoint) { c.Root = Genesis },
		"time": func(c *Checkpoint) { c.Time = c.Time.Add(time.Second) },
		"key":  func(c *Checkpoint) { c.KeyID = "0000000000000000" },
	} {
		d := c
		mod(&d)
		if VerifyCheckpoint(pub, d) == nil {
			t.Errorf("checkpoint with changed %s verifies", name)
		}
	}
	var buf bytes.Buffer
	if err := WriteCheckpoints(&buf, []Checkpoint{c}); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCheckpoints(&buf)
	if err != nil || len(back) != 1 || VerifyCheckpoint(pub, back[0]) != nil {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
