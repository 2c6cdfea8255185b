package partid

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

var testID = ID{Type: "PAD", Vendor: "V0100", Lot: "L2025-09", Serial: 1}

// testConfig returns a config with every format usable: HMAC keys K1 (old)
// and K2 (current), Ed25519 key E1 (current, private).
func testConfig(tb testing.TB) *PayloadConfig {
	tb.Helper()
	keys := NewKeyring()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(keys.AddHMAC("K1", []byte("0123456789abcdef-old"), false))
	must(keys.AddHMAC("K2", []byte("0123456789abcdef-new"), true))
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	must(keys.AddEd25519("E1", priv, true))
	c := &PayloadConfig{
		BaseURL: "HTTPS://TRACE.EXAMPLE.COM/P/",
		GTINs:   map[string]string{"PAD": "05412345000013", "BRK": "00012345678905"},
		Keys:    keys,
	}
	must(c.Validate())
	return c
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	c := testConfig(t)
	mfg := time.Date(2025, 9, 14, 0, 0, 0, 0, time.UTC)
	want := map[Format]string{
		FormatUID: "PAD-V0100-L2025-09-00001",
		FormatURL: "HTTPS://TRACE.EXAMPLE.COM/P/PAD-V0100-L2025-09-00001",
		FormatGS1: "https://id.gs1.org/01/05412345000013/10/L2025-09/21/V0100-L2025-09-00001?11=250914",
	}
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			p, err := c.Encode(f, testID, mfg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if w, ok := want[f]; ok && p != w {
				t.Errorf("Encode = %q, want %q", p, w)
			}
			d, err := c.Decode(p)
			if err != nil {
				t.Fatalf("Decode(%q): %v", p, err)
			}
			if d.ID != testID || d.Format != f {
				t.Errorf("Decode = %+v, want id %v format %s", d, testID, f)
			}
			signed := f == FormatSigned || f == FormatEd25519
			if d.Signed != signed {
				t.Errorf("Signed = %v, want %v", d.Signed, signed)
			}
			if f == FormatGS1 && !d.MfgDate.Equal(mfg) {
				t.Errorf("MfgDate = %v, want %v", d.MfgDate, mfg)
			}
		})
	}
}

func TestSignedPayloadShape(t *testing.T) {
	t.Parallel()
	c := testConfig(t)
	for _, c2 := range []struct {
		f       Format
		kid     string
		wantLen int
	}{{FormatSigned, "K2", 24 + 1 + 2 + 1 + 26}, {FormatEd25519, "E1", 24 + 1 + 2 + 1 + 103}} {
		p, err := c.Encode(c2.f, testID, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != c2.wantLen {
			t.Errorf("%s payload %q has %d chars, want %d", c2.f, p, len(p), c2.wantLen)
		}
		if !strings.HasPrefix(p, testID.String()+"."+c2.kid+".") {
			t.Errorf("%s payload %q is not signed with current key %s", c2.f, p, c2.kid)
		}
		if !Alphanumeric(p) {
			t.Errorf("%s payload %q leaves the QR alphanumeric set", c2.f, p)
		}
	}
	url, _ := c.Encode(FormatURL, testID, time.Time{})
	if !Alphanumeric(url) {
		t.Errorf("upper-case URL payload %q is not alphanumeric", url)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	c := testConfig(t)
	// A code signed with the old key K1 still verifies after K2 became current.
	old := &PayloadConfig{Keys: NewKeyring()}
	if err := old.Keys.AddHMAC("K1", []byte("0123456789abcdef-old"), true); err != nil {
		t.Fatal(err)
	}
	p, err := old.Encode(FormatSigned, testID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Decode(p)
	if err != nil || d.KeyID != "K1" || !d.Signed {
		t.Fatalf("Decode(old-key payload) = %+v, %v; want verified with K1", d, err)
	}
	// A third party with only the public key verifies ed25519 payloads offline.
	p, err = c.Encode(FormatEd25519, testID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	pubOnly := &PayloadConfig{Keys: NewKeyring()}
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	if err := pubOnly.Keys.AddEd25519Public("E1", pub); err != nil {
		t.Fatal(err)
	}
	if d, err := pubOnly.Decode(p); err != nil || !d.Signed {
		t.Fatalf("public-key Decode = %+v, %v", d, err)
	}
	if _, err := pubOnly.Encode(FormatEd25519, testID, time.Time{}); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("Encode with public key only: %v, want EINVALID", err)
	}
}

func TestDecodeFailureReasons(t *testing.T) {
	t.Parallel()
	c := testConfig(t)
	signed, _ := c.Encode(FormatSigned, testID, time.Time{})
	ed, _ := c.Encode(FormatEd25519, testID, time.Time{})
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	other := testConfig(t)
	other.Keys = NewKeyring()
	_ = other.Keys.AddHMAC("K2", []byte("another-secret-of-16+"), true)
	forged, _ := other.Encode(FormatSigned, testID, time.Time{})

	cases := []struct {
		name, payload string
		want          error
	}{
		{"empty", "", ErrMalformed},
		{"not an id", "hello world", ErrMalformed},
		{"lower-case id", "pad-V0100-L2025-09-00001", ErrMalformed},
		{"foreign URL", "https://example.org/PAD-V0100-L2025-09-00001", ErrMalformed},
		{"url with bad id", "HTTPS://TRACE.EXAMPLE.COM/P/PAD-V0100", ErrMalformed},
		{"two fields", "PAD-V0100-L2025-09-00001.K1", ErrMalformed},
		{"four fields", signed + ".X", ErrMalformed},
		{"bad key id", "PAD-V0100-L2025-09-00001.k1." + signed[len(signed)-26:], ErrMalformed},
		{"tag length", signed[:len(signed)-1], ErrMalformed},
		{"tag not base32", signed[:len(signed)-1] + "1", ErrMalformed},
		{"unknown hmac key", strings.Replace(signed, ".K2.", ".K9.", 1), ErrUnknownKey},
		{"unknown ed25519 key", strings.Replace(ed, ".E1.", ".E9.", 1), ErrUnknownKey},
		{"tampered tag", flip(signed, len(signed)-3), ErrBadSignature},
		{"tampered id", strings.Replace(signed, "00001", "00002", 1), ErrBadSignature},
		{"wrong secret", forged, ErrBadSignature},
		{"key id swapped", strings.Replace(signed, ".K2.", ".K1.", 1), ErrBadSignature},
		{"tampered ed25519", flip(ed, len(ed)-10), ErrBadSignature},
		{"hmac tag as ed25519", strings.Replace(signed, ".K2.", ".E1.", 1), ErrUnknownKey},
		{"gs1 bad check digit", "https://id.gs1.org/01/05412345000014/10/L2025-09/21/V0100-L2025-09-00001", ErrMalformed},
		{"gs1 unmapped gtin", "https://id.gs1.org/01/00000000000000/10/L2025-09/21/V0100-L2025-09-00001", ErrMalformed},
		{"gs1 lot mismatch", "https://id.gs1.org/01/05412345000013/10/L2025-08/21/V0100-L2025-09-00001", ErrMalformed},
		{"gs1 serial too long", "https://id.gs1.org/01/05412345000013/10/L2025-09/21/V0100-L2025-09-000000001", ErrMalformed},
		{"gs1 char outside set 82", "https://id.gs1.org/01/05412345000013/10/L2025~09/21/V0100-L2025-09-00001", ErrMalformed},
		{"gs1 percent escape", "https://id.gs1.org/01/05412345000013/10/L2025%2D09/21/V0100-L2025-09-00001", ErrMalformed},
		{"gs1 bad date", "https://id.gs1.org/01/05412345000013/10/L2025-09/21/V0100-L2025-09-00001?11=251332", ErrMalformed},
		{"gs1 other attribute", "https://id.gs1.org/01/05412345000013/10/L2025-09/21/V0100-L2025-09-00001?17=251231", ErrMalformed},
		{"gs1 missing serial", "https://id.gs1.org/01/05412345000013/10/L2025-09", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Decode(tc.payload)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode(%q) = %v, want %v", tc.payload, err, tc.want)
			}
			e := qrmfg.AsError(err)
			if e == nil || e.Code != qrmfg.EINVALID || e.Detail["reason"] != Verdict(tc.want) {
				t.Errorf("error %#v: want EINVALID with reason %q", e, Verdict(tc.want))
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	c := testConfig(t)
	bare := &PayloadConfig{}
	long := ID{Type: "PAD", Vendor: "V0100", Lot: "LOT-2025-09-LONG", Serial: 1}
	cases := []struct {
		name  string
		c     *PayloadConfig
		f     Format
		id    ID
		field string
	}{
		{"invalid id", c, FormatUID, ID{Type: "pad", Vendor: "V1", Lot: "L1", Serial: 1}, "uid"},
		{"url without base", bare, FormatURL, testID, "base_url"},
		{"gs1 without gtin", c, FormatGS1, ID{Type: "NUT", Vendor: "V1", Lot: "L1", Serial: 1}, "gtins"},
		{"gs1 serial over 20", c, FormatGS1, long, "gs1"},
		{"signed without keys", bare, FormatSigned, testID, "keys"},
		{"ed25519 without keys", bare, FormatEd25519, testID, "keys"},
		{"unknown format", c, Format("qr"), testID, "payload_format"},
	}
	for _, tc := range cases {
		_, err := tc.c.Encode(tc.f, tc.id, time.Time{})
		if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != tc.field {
			t.Errorf("%s: Encode error = %v, want EINVALID on field %s", tc.name, err, tc.field)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	bad := []*PayloadConfig{
		{BaseURL: "trace.example.com/p/"},
		{BaseURL: "https://trace.example.com/p?id="},
		{GS1Resolver: "https://id.example.com/"},
		{GTINs: map[string]string{"PAD": "05412345000014"}},
		{GTINs: map[string]string{"PAD": "5412345000013"}},
		{GTINs: map[string]string{"pad": "05412345000013"}},
		{GTINs: map[string]string{"PAD": "05412345000013", "BRK": "05412345000013"}},
	}
	for _, c := range bad {
		if err := c.Validate(); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("Validate(%+v) = %v, want EINVALID", c, err)
		}
	}
	k := NewKeyring()
	if err := k.AddHMAC("K1", []byte("short"), true); err == nil {
		t.Error("AddHMAC accepted a 5-byte secret")
	}
	if err := k.AddHMAC("K.1", []byte("0123456789abcdef"), true); err == nil {
		t.Error("AddHMAC accepted key id K.1")
	}
	if err := k.AddHMAC("K1", []byte("0123456789abcdef"), true); err != nil {
		t.Fatal(err)
	}
	if err := k.AddHMAC("K1", []byte("0123456789abcdef"), true); err == nil {
		t.Error("AddHMAC accepted a duplicate key id")
	}
}

func TestGTINCheckDigit(t *testing.T) {
	t.Parallel()
	for _, g := range []string{"05412345000013", "00012345678905", "04006381333931", "00614141999996"} {
		if err := ValidateGTIN(g); err != nil {
			t.Errorf("ValidateGTIN(%s): %v", g, err)
		}
	}
	if err := ValidateGTIN("04006381333932"); err == nil {
		t.Error("ValidateGTIN accepted a wrong check digit")
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, f := range Formats {
		if got, err := ParseFormat(string(f)); err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if f, err := ParseFormat(""); err != nil || f != FormatUID {
		t.Errorf("ParseFormat(\"\") = %q, %v; want uid", f, err)
	}
	if _, err := ParseFormat("UID"); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("ParseFormat(UID) = %v, want EINVALID", err)
	}
}

func FuzzDecode(f *testing.F) {
	c := testConfig(f)
	for _, fm := range Formats {
		p, err := c.Encode(fm, testID, time.Date(2025, 9, 14, 0, 0, 0, 0, time.UTC))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add("PAD-V0100-L2025-09-00001.K1.AAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("https://id.gs1.org/01/00012345678905/10/A/21/V-A-00001")
	f.Fuzz(func(t *testing.T, payload string) {
		d, err := c.Decode(payload)
		if err != nil {
			if Verdict(err) == "" || qrmfg.ErrorCode(err) != qrmfg.EINVALID {
				t.Fatalf("Decode(%q) error %v has no verdict", payload, err)
			}
			return
		}
		var again string
		switch d.Format {
		case FormatSigned, FormatEd25519:
			if !strings.HasPrefix(payload, d.ID.String()+"."+d.KeyID+".") || !d.Signed {
				t.Fatalf("Decode(%q) = %+v", payload, d)
			}
			// HMAC and Ed25519 signatures are deterministic, so a payload
			// signed with the current key re-encodes to itself; one signed
			// with an older key cannot be re-made.
			if d.KeyID != c.Keys.hmacCur && d.KeyID != c.Keys.edCurrent {
				return
			}
			again, err = c.Encode(d.Format, d.ID, d.MfgDate)
		default:
			again, err = c.Encode(d.Format, d.ID, d.MfgDate)
		}
		if err != nil || again != payload {
			t.Fatalf("Decode(%q) = %+v re-encodes to %q, %v", payload, d, again, err)
		}
	})
}

// TestURLBaseJoin: a base with or without its trailing '/' gives one '/'
// before the id, and the payload decodes back; without a configured base,
// a payload made with a request's base (scheme://host/inventory/items/)
// decodes, and other URLs stay malformed.
func TestURLBaseJoin(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"https://id.example.com/p", "https://id.example.com/p/"} {
		c := &PayloadConfig{BaseURL: base}
		p, err := c.Encode(FormatURL, testID, time.Time{})
		if err != nil || p != "https://id.example.com/p/PAD-V0100-L2025-09-00001" {
			t.Errorf("base %q: %q %v", base, p, err)
			continue
		}
		if d, err := c.Decode(p); err != nil || d.ID != testID || d.Format != FormatURL {
			t.Errorf("base %q: Decode(%q) = %+v %v", base, p, d, err)
		}
	}
	// Parts marked before the join was fixed carry the id glued to the base.
	glued := &PayloadConfig{BaseURL: "https://id.example.com/p"}
	if d, err := glued.Decode("https://id.example.com/pPAD-V0100-L2025-09-00001"); err != nil || d.ID != testID || d.Format != FormatURL {
		t.Errorf("glued payload of an earlier version: %+v %v", d, err)
	}
	if _, err := glued.Decode("https://id.example.com/pXX"); Verdict(err) != VerdictMalformed {
		t.Errorf("glued payload that is not an id: %v, want malformed", err)
	}
	c := &PayloadConfig{BaseURL: "http://factory.local:8000" + ItemURLPath}
	p, err := c.Encode(FormatURL, testID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	bare := &PayloadConfig{}
	if d, err := bare.Decode(p); err != nil || d.ID != testID || d.Format != FormatURL {
		t.Errorf("request-base payload %q: %+v %v", p, d, err)
	}
	for _, bad := range []string{"https://evil.example.com/x/PAD-V0100-L2025-09-00001", "https://a b/inventory/items/PAD-V0100-L2025-09-00001",
		"https:///inventory/items/PAD-V0100-L2025-09-00001"} {
		if _, err := bare.Decode(bad); Verdict(err) != VerdictMalformed {
			t.Errorf("Decode(%q) = %v, want malformed", bad, err)
		}
	}
}
