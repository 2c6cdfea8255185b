package partid

import (
	"errors"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Format is the payload format of a batch: what string the QR code carries.
//
//	uid      PAD-V0100-L2025-09-00001                            (24 chars, QR alphanumeric)
//	url      {BaseURL}PAD-V0100-L2025-09-00001                   (alphanumeric if BaseURL is upper-case)
//	gs1      {GS1Resolver}/01/{GTIN}/10/{lot}/21/{vendor-lot-serial}?11=YYMMDD   (byte mode)
//	signed   PAD-V0100-L2025-09-00001.K1.{26 base32 chars}      (HMAC-SHA256/128, alphanumeric)
//	ed25519  PAD-V0100-L2025-09-00001.E1.{103 base32 chars}     (Ed25519, alphanumeric)
type Format string

// The payload formats.
const (
	FormatUID     Format = "uid"
	FormatURL     Format = "url"
	FormatGS1     Format = "gs1"
	FormatSigned  Format = "signed"
	FormatEd25519 Format = "ed25519"
)

// Formats lists every payload format, in documentation order.
var Formats = []Format{FormatUID, FormatURL, FormatGS1, FormatSigned, FormatEd25519}

// ParseFormat parses a payload format name; the empty string is FormatUID.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatUID, nil
	}
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", qrmfg.FieldError("payload_format", "payload format %q is unknown; use one of uid, url, gs1, signed, ed25519", s)
}

// Reasons a payload fails to decode. Decode wraps them in an EINVALID
// *qrmfg.Error whose Detail["reason"] holds the matching Verdict string, so a
// scanner can say why a code is rejected; test them with errors.Is.
var (
	// ErrMalformed: the payload is none of our formats, or a part of it (id,
	// GTIN, check digit, date, tag encoding) is not well formed.
	ErrMalformed = errors.New("malformed payload")
	// ErrUnknownKey: the payload is signed with a key id the keyring does not hold.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrBadSignature: the key is known but the tag or signature does not verify.
	ErrBadSignature = errors.New("invalid signature")
)

// Verdicts returned by Verdict.
const (
	VerdictMalformed        = "malformed"
	VerdictUnknownKey       = "unknown_key"
	VerdictInvalidSignature = "invalid_signature"
)

// Verdict maps a Decode error to its stable reason string ("malformed",
// "unknown_key", "invalid_signature"), or "" for nil or another error.
func Verdict(err error) string {
	switch {
	case errors.Is(err, ErrMalformed):
		return VerdictMalformed
	case errors.Is(err, ErrUnknownKey):
		return VerdictUnknownKey
	case errors.Is(err, ErrBadSignature):
		return VerdictInvalidSignature
	}
	return ""
}

func decodeError(reason error, format string, args ...any) error {
	e := qrmfg.FieldError("payload", format, args...)
	e.Err = reason
	return e.WithDetail("reason", Verdict(reason))
}

// PayloadConfig holds what the payload formats need beyond the id. It is
// read-only once built and safe for concurrent use.
type PayloadConfig struct {
	// BaseURL prefixes the id in the url format, for example
	// "HTTPS://TRACE.EXAMPLE.COM/P/"; a base without a trailing '/' gets
	// one ("…/P" gives "…/P/PAD-…"). Upper-case keeps
	// the whole payload in the QR alphanumeric set (smaller symbol); scheme
	// and host are case-insensitive, so the trace server only has to route
	// its path prefix case-insensitively. A lower-case base works too but
	// forces byte mode (about one QR version larger for a 24-char id).
	BaseURL string
	// GS1Resolver is the Digital Link resolver base, without a trailing
	// slash; empty means DefaultGS1Resolver.
	GS1Resolver string
	// GTINs maps a component type (ID.Type) to its GTIN-14. Each GTIN may
	// appear once, so a GTIN identifies the type when decoding.
	GTINs map[string]string
	// Keys holds the HMAC and Ed25519 keys of the signed and ed25519 formats.
	Keys *Keyring
}

// DefaultGS1Resolver is GS1's global resolver.
const DefaultGS1Resolver = "https://id.gs1.org"

// Decoded is what a payload carries.
type Decoded struct {
	ID     ID
	Format Format
	// Signed is true when the payload carried a signature that verified.
	Signed bool
	// KeyID is the key that verified a signed payload.
	KeyID string
	// GTIN and MfgDate are set for gs1 payloads (MfgDate only when the
	// payload carries AI 11).
	GTIN    string
	MfgDate time.Time
}

// Validate checks the configuration: the base URL, the resolver, the GTINs
// (check digit, uniqueness) and the component types they are keyed by.
func (c *PayloadConfig) Validate() error {
	if c.BaseURL != "" {
		if err := validateBase("base_url", c.BaseURL); err != nil {
			return err
		}
	}
	if c.GS1Resolver != "" {
		if err := validateBase("gs1_resolver", c.GS1Resolver); err != nil {
			return err
		}
		if strings.HasSuffix(c.GS1Resolver, "/") {
			return qrmfg.FieldError("gs1_resolver", "gs1_resolver %q must not end with '/'", c.GS1Resolver)
		}
	}
	seen := make(map[string]string, len(c.GTINs))
	for typ, gtin := range c.GTINs {
		if err := validatePart("component_type", typ, MaxTypeLen, false); err != nil {
			return err
		}
		if err := ValidateGTIN(gtin); err != nil {
			return err
		}
		if other, dup := seen[gtin]; dup {
			return qrmfg.FieldError("gtins", "GTIN %s is mapped to both %s and %s; a GTIN must identify one component type", gtin, other, typ)
		}
		seen[gtin] = typ
	}
	return nil
}

func validateBase(field, base string) error {
	lower := strings.ToLower(base)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return qrmfg.FieldError(field, "%s %q must start with https:// or http://", field, base)
	}
	for i := 0; i < len(base); i++ {
		if c := base[i]; c <= ' ' || c >= 0x7f || c == '?' || c == '#' {
			return qrmfg.FieldError(field, "%s %q has the character %q, not allowed in a base URL", field, base, rune(c))
		}
	}
	return nil
}

// ItemURLPath is the path of url payloads made without a configured base
// URL: the base of the request that generated them, then this path, then
// the id (https://factory.example.com/inventory/items/PAD-…), the item on
// the server that made the code.
const ItemURLPath = "/inventory/items/"

// requestBaseID returns the id part of a url payload made with a request's
// base: http(s)://host[:port]/inventory/items/{id}.
func requestBaseID(payload string) (string, bool) {
	lower := strings.ToLower(payload)
	rest, ok := strings.CutPrefix(lower, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(lower, "http://"); !ok {
			return "", false
		}
	}
	host, _, ok := strings.Cut(rest, "/")
	if !ok || host == "" {
		return "", false
	}
	base := payload[:len(payload)-len(rest)+len(host)]
	if validateBase("base_url", base) != nil {
		return "", false
	}
	return strings.CutPrefix(payload[len(base):], ItemURLPath)
}

// urlPrefix is the base URL joined to the id with one '/'.
func (c *PayloadConfig) urlPrefix() string {
	if strings.HasSuffix(c.BaseURL, "/") {
		return c.BaseURL
	}
	return c.BaseURL + "/"
}

func (c *PayloadConfig) resolver() string {
	if c.GS1Resolver == "" {
		return DefaultGS1Resolver
	}
	return c.GS1Resolver
}

// Encode returns the payload of id in format f. mfgDate is used by the gs1
// format only (AI 11, omitted when zero). Errors are EINVALID and name what
// is missing from the configuration or what does not fit.
func (c *PayloadConfig) Encode(f Format, id ID, mfgDate time.Time) (string, error) {
	s := id.String()
	if _, err := Parse(s); err != nil {
		return "", err
	}
	switch f {
	case FormatUID, "":
		return s, nil
	case FormatURL:
		if c.BaseURL == "" {
			return "", qrmfg.FieldError("base_url", "the url payload format needs a base URL")
		}
		if err := validateBase("base_url", c.BaseURL); err != nil {
			return "", err
		}
		return c.urlPrefix() + s, nil
	case FormatGS1:
		return c.encodeGS1(id, mfgDate)
	case FormatSigned:
		return c.Keys.signHMAC(s)
	case FormatEd25519:
		return c.Keys.signEd25519(s)
	}
	_, err := ParseFormat(string(f))
	return "", err
}

// Decode recognises a payload of any format, returns the id it carries and,
// for signed formats, verifies the tag or signature. Errors are EINVALID
// *qrmfg.Error wrapping ErrMalformed, ErrUnknownKey or ErrBadSignature (see
// Verdict). Only the canonical form Encode writes is accepted, so a decoded
// payload re-encodes to the same string (one exception: a url payload whose
// id is glued to a base without its trailing '/', as earlier versions wrote
// them, still reads): url payloads must start with
// exactly the configured BaseURL, gs1 payloads with the configured resolver
// (or DefaultGS1Resolver); any other URL is malformed.
func (c *PayloadConfig) Decode(payload string) (Decoded, error) {
	if r := c.resolver(); strings.HasPrefix(payload, r+"/01/") {
		return c.decodeGS1(payload[len(r):])
	}
	if p := c.urlPrefix(); c.BaseURL != "" && strings.HasPrefix(payload, p) {
		id, err := parsePayloadID(payload[len(p):])
		if err != nil {
			return Decoded{}, err
		}
		return Decoded{ID: id, Format: FormatURL}, nil
	}
	if b := c.BaseURL; b != "" && !strings.HasSuffix(b, "/") && strings.HasPrefix(payload, b) {
		// Marks made before the base was joined with a '/' carry the id
		// glued to it (…/pPAD-…); parts marked so must still read.
		id, err := parsePayloadID(payload[len(b):])
		if err != nil {
			return Decoded{}, err
		}
		return Decoded{ID: id, Format: FormatURL}, nil
	}
	if c.BaseURL == "" {
		if id, ok := requestBaseID(payload); ok {
			d, err := parsePayloadID(id)
			return Decoded{ID: d, Format: FormatURL}, err
		}
	}
	if strings.Contains(payload, "://") {
		return Decoded{}, decodeError(ErrMalformed, "payload %.80q is a URL that is not under the configured base URL or GS1 resolver", payload)
	}
	if strings.IndexByte(payload, '.') >= 0 {
		return c.Keys.verify(payload)
	}
	id, err := parsePayloadID(payload)
	if err != nil {
		return Decoded{}, err
	}
	return Decoded{ID: id, Format: FormatUID}, nil
}

func parsePayloadID(s string) (ID, error) {
	id, err := Parse(s)
	if err != nil {
		return ID{}, decodeError(ErrMalformed, "payload does not carry a valid part id: %s", qrmfg.ErrorMessage(err))
	}
	return id, nil
}

// Alphanumeric reports whether s uses only the QR alphanumeric character set
// (0-9 A-Z space $ % * + - . / :), so an encoder can use the denser
// alphanumeric mode for all of it.
func Alphanumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || strings.IndexByte(" $%*+-./:", c) >= 0) {
			return false
		}
	}
	return true
}
