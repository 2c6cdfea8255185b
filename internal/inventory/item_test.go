package inventory

import (
	"encoding/json"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func TestTransitionTable(t *testing.T) {
	t.Parallel()
	// Every status is in the table, every target is a known status, and
	// the final states lead nowhere.
	for _, from := range Statuses() {
		next, ok := transitions[from]
		if !ok {
			t.Fatalf("%s is not in the transition table", from)
		}
		for _, to := range next {
			if _, ok := transitions[to]; !ok {
				t.Errorf("%s → %s: unknown target", from, to)
			}
			if to == from {
				t.Errorf("%s → itself", from)
			}
		}
	}
	for _, final := range []Status{StatusScrapped, StatusVoid} {
		if len(AllowedNext(final)) != 0 {
			t.Errorf("%s must be final", final)
		}
	}
	// The seed's main path is allowed, shortcuts are not.
	path := []Status{StatusGenerated, StatusEngraved, StatusAvailable, StatusReserved, StatusShipped}
	for i := 1; i < len(path); i++ {
		if !CanTransition(path[i-1], path[i]) {
			t.Errorf("%s → %s must be allowed", path[i-1], path[i])
		}
	}
	for _, c := range [][2]Status{{StatusGenerated, StatusAvailable}, {StatusGenerated, StatusShipped}, {StatusShipped, StatusGenerated}} {
		if CanTransition(c[0], c[1]) {
			t.Errorf("%s → %s must be forbidden", c[0], c[1])
		}
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	if s, err := ParseStatus(" Available "); err != nil || s != StatusAvailable {
		t.Fatalf("ParseStatus: %v %v", s, err)
	}
	_, err := ParseStatus("lost")
	if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != "status" {
		t.Fatalf("ParseStatus(lost) = %v", err)
	}
}

func TestMergePatch(t *testing.T) {
	t.Parallel()
	got, err := mergePatch(json.RawMessage(`{"a":1,"b":{"c":2,"d":3},"e":"x"}`), json.RawMessage(`{"a":null,"b":{"c":null,"f":4},"g":true}`))
	if err != nil || string(got) != `{"b":{"d":3,"f":4},"e":"x","g":true}` {
		t.Fatalf("mergePatch = %s, %v", got, err)
	}
	if _, err := mergePatch(nil, json.RawMessage(`[1,2]`)); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Fatalf("array patch: %v", err)
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()
	c := Cursor{Sort: SortSerial, Desc: true, Value: "42", UID: "PAD-V1-L1-00042"}
	back, err := DecodeCursor(c.Encode(), SortSerial, true)
	if err != nil || back != c {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := DecodeCursor(c.Encode(), SortUID, false); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Fatalf("a cursor of another ordering must be refused: %v", err)
	}
}
