package partid

import (
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// GS1 Digital Link layout of a part:
//
//	{resolver}/01/{GTIN-14}/10/{LOT}/21/{VENDOR}-{LOT}-{SERIAL}?11={YYMMDD}
//
// The GTIN comes from the component type (PayloadConfig.GTINs). AI 10 is the
// lot. AI 21 is the id without its type: GS1 requires the serial to be unique
// per GTIN, and our serials restart in every lot of every vendor, so the
// vendor and the lot belong in it. AI 10 and 21 are limited to 20 characters
// of the GS1 "AI encodable character set 82"; ids whose VENDOR-LOT-SERIAL is
// longer cannot be written as GS1. AI 11 (production date) is an attribute,
// in the query. Only this canonical form is decoded: no percent-escapes, no
// other AIs, no other order.

// gs1MaxVarLen is the maximum length of the values of AI 10 and AI 21.
const gs1MaxVarLen = 20

// ValidateGTIN checks that s is a GTIN-14: 14 digits whose last is the GS1
// mod-10 check digit of the first 13.
func ValidateGTIN(s string) error {
	if len(s) != 14 || !allDigits(s) {
		return qrmfg.FieldError("gtin", "GTIN %q must be 14 digits (pad GTIN-8/12/13 with leading zeros)", s)
	}
	if want := gtinCheckDigit(s[:13]); s[13] != want {
		return qrmfg.FieldError("gtin", "GTIN %s has check digit %c, want %c", s, s[13], want)
	}
	return nil
}

// gtinCheckDigit computes the GS1 mod-10 check digit of the digits in s:
// weights 3,1,3,1... from the rightmost digit.
func gtinCheckDigit(s string) byte {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// gs1Set82 reports whether c is in the GS1 AI encodable character set 82.
func gs1Set82(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return true
	}
	return strings.IndexByte(`!"%&'()*+,-./:;<=>?_`, c) >= 0
}

func validateGS1Var(ai, v string) error {
	if v == "" || len(v) > gs1MaxVarLen {
		return qrmfg.FieldError("gs1", "GS1 AI (%s) value %q must have 1 to %d characters", ai, v, gs1MaxVarLen)
	}
	for i := 0; i < len(v); i++ {
		if !gs1Set82(v[i]) {
			return qrmfg.FieldError("gs1", "GS1 AI (%s) value %q has the character %q, outside the GS1 character set 82", ai, v, rune(v[i]))
		}
	}
	return nil
}

func (c *PayloadConfig) encodeGS1(id ID, mfgDate time.Time) (string, error) {
	gtin, ok := c.GTINs[id.Type]
	if !ok {
		return "", qrmfg.FieldError("gtins", "no GTIN is configured for component type %s; the gs1 payload format needs one", id.Type)
	}
	if err := ValidateGTIN(gtin); err != nil {
		return "", err
	}
	serial := id.String()[len(id.Type)+1:]
	if err := validateGS1Var("10", id.Lot); err != nil {
		return "", err
	}
	if err := validateGS1Var("21", serial); err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(c.resolver()) + 70)
	b.WriteString(c.resolver())
	b.WriteString("/01/")
	b.WriteString(gtin)
	b.WriteString("/10/")
	b.WriteString(id.Lot)
	b.WriteString("/21/")
	b.WriteString(serial)
	if !mfgDate.IsZero() {
		b.WriteString("?11=")
		b.WriteString(mfgDate.Format("060102"))
	}
	return b.String(), nil
}

// decodeGS1 decodes the part after the resolver: /01/.../10/.../21/...[?11=...].
func (c *PayloadConfig) decodeGS1(rest string) (Decoded, error) {
	path, query, hasQuery := strings.Cut(rest, "?")
	seg := strings.Split(path, "/")
	if len(seg) != 7 || seg[0] != "" || seg[1] != "01" || seg[3] != "10" || seg[5] != "21" {
		return Decoded{}, decodeError(ErrMalformed, "GS1 Digital Link path %.80q is not /01/{GTIN}/10/{lot}/21/{serial}", path)
	}
	gtin, lot, serial := seg[2], seg[4], seg[6]
	if err := ValidateGTIN(gtin); err != nil {
		return Decoded{}, decodeError(ErrMalformed, "%s", qrmfg.ErrorMessage(err))
	}
	typ := ""
	for t, g := range c.GTINs {
		if g == gtin {
			typ = t
			break
		}
	}
	if typ == "" {
		return Decoded{}, decodeError(ErrMalformed, "GTIN %s is not mapped to a component type", gtin)
	}
	for _, v := range [][2]string{{"10", lot}, {"21", serial}} {
		if err := validateGS1Var(v[0], v[1]); err != nil {
			return Decoded{}, decodeError(ErrMalformed, "%s", qrmfg.ErrorMessage(err))
		}
	}
	id, err := parsePayloadID(typ + "-" + serial)
	if err != nil {
		return Decoded{}, err
	}
	if id.Lot != lot {
		return Decoded{}, decodeError(ErrMalformed, "GS1 lot (10) %q does not match the lot %q inside the serial (21) %q", lot, id.Lot, serial)
	}
	d := Decoded{ID: id, Format: FormatGS1, GTIN: gtin}
	if hasQuery {
		v, ok := strings.CutPrefix(query, "11=")
		if !ok || len(v) != 6 || !allDigits(v) {
			return Decoded{}, decodeError(ErrMalformed, "GS1 query %.40q is not ?11=YYMMDD", query)
		}
		t, err := time.Parse("060102", v)
		if err != nil {
			return Decoded{}, decodeError(ErrMalformed, "GS1 production date (11) %s is not a valid YYMMDD date", v)
		}
		d.MfgDate = t
	}
	return d, nil
}
