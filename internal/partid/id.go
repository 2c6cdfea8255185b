// Package partid defines the part identifier TYPE-VENDOR-LOT-SERIAL (for
// example PAD-V0100-L2025-09-00001) and the payloads that carry it in a code.
package partid

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Limits of the parts of an id. They keep every id in the QR alphanumeric set
// (0-9, A-Z, space $ % * + - . / :) minus the characters that would be
// ambiguous or unsafe in file names and URLs.
const (
	MaxTypeLen   = 16
	MaxVendorLen = 16
	MaxLotLen    = 32
	// SerialWidth is the minimum number of digits of a serial; larger serials
	// use as many digits as they need.
	SerialWidth = 5
	// MaxSerial is the largest serial a lot can hold.
	MaxSerial = 999_999_999
)

// ID is a parsed part identifier.
type ID struct {
	Type   string // component type, e.g. PAD
	Vendor string // vendor code, e.g. V0100
	Lot    string // lot number, e.g. L2025-09 (may contain '-')
	Serial int64  // serial within the lot, from 1
}

// String formats the id with its serial zero-padded to SerialWidth digits.
func (id ID) String() string {
	return fmt.Sprintf("%s-%s-%s-%0*d", id.Type, id.Vendor, id.Lot, SerialWidth, id.Serial)
}

// Prefix returns TYPE-VENDOR-LOT-, the part shared by every id of a lot.
func (id ID) Prefix() string { return id.Type + "-" + id.Vendor + "-" + id.Lot + "-" }

// Parse parses and validates TYPE-VENDOR-LOT-SERIAL. The type and vendor are the
// first two dash-separated fields, the serial the last, and the lot everything
// in between. The error names the part that is wrong.
func Parse(s string) (ID, error) {
	first := strings.IndexByte(s, '-')
	if first < 0 {
		return ID{}, invalid("uid", "%q is not a part id: expected TYPE-VENDOR-LOT-SERIAL, e.g. PAD-V0100-L2025-09-00001", s)
	}
	rest := s[first+1:]
	second := strings.IndexByte(rest, '-')
	last := strings.LastIndexByte(rest, '-')
	if second < 0 || last == second {
		return ID{}, invalid("uid", "%q is not a part id: expected TYPE-VENDOR-LOT-SERIAL, e.g. PAD-V0100-L2025-09-00001", s)
	}
	id := ID{Type: s[:first], Vendor: rest[:second], Lot: rest[second+1 : last]}
	serial := rest[last+1:]
	if err := ValidateLot(id.Type, id.Vendor, id.Lot); err != nil {
		e := qrmfg.AsError(err)
		return ID{}, invalid("uid", "%q: %s", s, e.Message)
	}
	if len(serial) < SerialWidth {
		return ID{}, invalid("uid", "%q: serial %q must have at least %d digits", s, serial, SerialWidth)
	}
	n, err := strconv.ParseInt(serial, 10, 64)
	if err != nil || !allDigits(serial) {
		return ID{}, invalid("uid", "%q: serial %q must be digits only", s, serial)
	}
	if n < 1 || n > MaxSerial {
		return ID{}, invalid("uid", "%q: serial %d is out of range 1..%d", s, n, MaxSerial)
	}
	if len(serial) > SerialWidth && serial[0] == '0' {
		return ID{}, invalid("uid", "%q: serial %q has extra leading zeros (canonical form is %0*d)", s, serial, SerialWidth, n)
	}
	id.Serial = n
	return id, nil
}

// ValidateLot checks the type, vendor and lot parts of an id and names the
// first one that is wrong.
func ValidateLot(typ, vendor, lot string) error {
	if err := validatePart("component_type", typ, MaxTypeLen, false); err != nil {
		return err
	}
	if err := validatePart("vendor_code", vendor, MaxVendorLen, false); err != nil {
		return err
	}
	return validatePart("lot_number", lot, MaxLotLen, true)
}

func validatePart(field, v string, maxLen int, dashes bool) error {
	if v == "" {
		return invalid(field, "%s is empty", field)
	}
	if len(v) > maxLen {
		return invalid(field, "%s %q is longer than %d characters", field, v, maxLen)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' && dashes:
			if i == 0 || i == len(v)-1 || v[i-1] == '-' {
				return invalid(field, "%s %q has a dash at its start, its end or twice in a row", field, v)
			}
		default:
			allowed := "upper-case letters A-Z and digits"
			if dashes {
				allowed += " (and single dashes inside)"
			}
			return invalid(field, "%s %q has the character %q at position %d; only %s are allowed", field, v, rune(c), i+1, allowed)
		}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func invalid(field, format string, args ...any) error {
	return qrmfg.FieldError(field, format, args...)
}
