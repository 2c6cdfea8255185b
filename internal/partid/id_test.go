package partid

import (
	"testing"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func TestParse(t *testing.T) {
	t.Parallel()
	ok := map[string]ID{
		"PAD-V0100-L2025-09-00001":   {"PAD", "V0100", "L2025-09", 1},
		"BRK-ACME-LOT7-12345":        {"BRK", "ACME", "LOT7", 12345},
		"PAD-V0100-L-2025-09-123456": {"PAD", "V0100", "L-2025-09", 123456},
	}
	for s, want := range ok {
		got, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if got != want {
			t.Errorf("Parse(%q) = %+v, want %+v", s, got, want)
		}
		if got.String() != s {
			t.Errorf("String() = %q, want %q", got.String(), s)
		}
	}
	bad := []string{
		"", "PAD", "PAD-V0100", "PAD-V0100-00001", "pad-V0100-L1-00001",
		"PAD-V0100-L1-0001", "PAD-V0100-L1-00000", "PAD-V0100-L1-0A001",
		"PAD-V0100-L1--00001", "PAD-V0100-L 1-00001", "PAD-V0100-L1-000001",
		"PAD-V0100-L1-+0001", "PADXXXXXXXXXXXXXXXXX-V0100-L1-00001",
	}
	for _, s := range bad {
		if _, err := Parse(s); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("Parse(%q) error = %v, want code %s", s, err, qrmfg.EINVALID)
		}
	}
}

func TestValidateLotNamesField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ typ, vendor, lot, field string }{
		{"", "V1", "L1", "component_type"},
		{"PAD", "v1", "L1", "vendor_code"},
		{"PAD", "V1", "L1/2", "lot_number"},
		{"PAD", "V1", "-L1", "lot_number"},
	} {
		err := ValidateLot(c.typ, c.vendor, c.lot)
		e := qrmfg.AsError(err)
		if e == nil || e.Field != c.field {
			t.Errorf("ValidateLot(%q,%q,%q) = %v, want field %s", c.typ, c.vendor, c.lot, err, c.field)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("PAD-V0100-L2025-09-00001")
	f.Add("A-B--C-1")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if qrmfg.ErrorCode(err) != qrmfg.EINVALID {
				t.Fatalf("Parse(%q) error code %q", s, qrmfg.ErrorCode(err))
			}
			return
		}
		if id.String() != s {
			t.Fatalf("Parse(%q).String() = %q: ids must round-trip", s, id.String())
		}
	})
}
