package partid

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Signed payloads are ID.KEYID.TAG, all in the QR alphanumeric set ('.' is
// not in any id, so the split is unambiguous):
//
//	signed   TAG = first 16 bytes (128 bits) of HMAC-SHA256(secret, ctx ‖ "ID.KEYID"),
//	         base32 upper-case without padding: 26 chars. 24-char id + K1 → 54 chars.
//	ed25519  TAG = Ed25519 signature (64 bytes) of ctx ‖ "ID.KEYID", base32: 103 chars.
//	         24-char id + E1 → 131 chars, alphanumeric mode (QR version 6-M, 41×41);
//	         base64url would be 86 chars but force byte mode (114 bytes, version 7-M).
//
// ctx is a fixed domain-separation prefix, so a tag made for a part id can
// never be replayed as some other kind of signature with the same key. The
// key id is signed too, so a tag cannot be moved to another key. The tag
// length tells the two formats apart.

const (
	hmacTagBytes = 16
	hmacTagChars = 26  // base32 of 16 bytes, no padding
	edSigChars   = 103 // base32 of 64 bytes, no padding
	// MinHMACKeyLen is the shortest HMAC secret the keyring accepts.
	MinHMACKeyLen = 16
	// MaxKeyIDLen is the longest key id.
	MaxKeyIDLen = 8
)

var (
	b32     = base32.StdEncoding.WithPadding(base32.NoPadding)
	hmacCtx = []byte("qrmfg/partid/hmac/v1\x00")
	ed25Ctx = []byte("qrmfg/partid/ed25519/v1\x00")
)

// Keyring holds the keys of the signed formats by key id: HMAC secrets and
// Ed25519 key pairs or public keys. New payloads are signed with the current
// key of each kind; any key held verifies, so keys rotate by adding a new
// current key and keeping the old ones until their codes are gone. Build it
// once; it is then safe for concurrent use (no method changes it after setup).
type Keyring struct {
	hmac      map[string][]byte
	hmacCur   string
	edPub     map[string]ed25519.PublicKey
	edPriv    map[string]ed25519.PrivateKey
	edCurrent string
}

// NewKeyring returns an empty keyring.
func NewKeyring() *Keyring {
	return &Keyring{hmac: map[string][]byte{}, edPub: map[string]ed25519.PublicKey{}, edPriv: map[string]ed25519.PrivateKey{}}
}

func validateKeyID(id string) error {
	if id == "" || len(id) > MaxKeyIDLen {
		return qrmfg.FieldError("key_id", "key id %q must have 1 to %d characters", id, MaxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return qrmfg.FieldError("key_id", "key id %q has the character %q; only A-Z and 0-9 are allowed", id, rune(c))
		}
	}
	return nil
}

// AddHMAC adds an HMAC-SHA256 secret (at least MinHMACKeyLen bytes) under id;
// current makes it the key new payloads are signed with.
func (k *Keyring) AddHMAC(id string, secret []byte, current bool) error {
	if err := validateKeyID(id); err != nil {
		return err
	}
	if len(secret) < MinHMACKeyLen {
		return qrmfg.FieldError("key", "HMAC key %s has %d bytes; at least %d are required", id, len(secret), MinHMACKeyLen)
	}
	if _, dup := k.hmac[id]; dup {
		return qrmfg.FieldError("key_id", "HMAC key id %s is already in the keyring", id)
	}
	k.hmac[id] = append([]byte(nil), secret...)
	if current {
		k.hmacCur = id
	}
	return nil
}

// AddEd25519 adds an Ed25519 private key under id (its public key verifies);
// current makes it the key new payloads are signed with.
func (k *Keyring) AddEd25519(id string, priv ed25519.PrivateKey, current bool) error {
	if len(priv) != ed25519.PrivateKeySize {
		return qrmfg.FieldError("key", "Ed25519 private key %s has %d bytes, want %d", id, len(priv), ed25519.PrivateKeySize)
	}
	if err := k.AddEd25519Public(id, priv.Public().(ed25519.PublicKey)); err != nil {
		return err
	}
	k.edPriv[id] = priv
	if current {
		k.edCurrent = id
	}
	return nil
}

// AddEd25519Public adds an Ed25519 public key under id, for verification
// only: a third party verifies our codes offline with it.
func (k *Keyring) AddEd25519Public(id string, pub ed25519.PublicKey) error {
	if err := validateKeyID(id); err != nil {
		return err
	}
	if len(pub) != ed25519.PublicKeySize {
		return qrmfg.FieldError("key", "Ed25519 public key %s has %d bytes, want %d", id, len(pub), ed25519.PublicKeySize)
	}
	if _, dup := k.edPub[id]; dup {
		return qrmfg.FieldError("key_id", "Ed25519 key id %s is already in the keyring", id)
	}
	k.edPub[id] = pub
	return nil
}

func noKey(f Format) error {
	return qrmfg.FieldError("keys", "the %s payload format needs a current signing key; none is configured", f)
}

func hmacTag(secret []byte, msg string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(hmacCtx)
	m.Write([]byte(msg))
	return m.Sum(nil)[:hmacTagBytes]
}

func edMessage(msg string) []byte {
	return append(append(make([]byte, 0, len(ed25Ctx)+len(msg)), ed25Ctx...), msg...)
}

func (k *Keyring) signHMAC(id string) (string, error) {
	if k == nil || k.hmacCur == "" {
		return "", noKey(FormatSigned)
	}
	msg := id + "." + k.hmacCur
	return msg + "." + b32.EncodeToString(hmacTag(k.hmac[k.hmacCur], msg)), nil
}

func (k *Keyring) signEd25519(id string) (string, error) {
	if k == nil || k.edCurrent == "" {
		return "", noKey(FormatEd25519)
	}
	msg := id + "." + k.edCurrent
	return msg + "." + b32.EncodeToString(ed25519.Sign(k.edPriv[k.edCurrent], edMessage(msg))), nil
}

// verify checks ID.KEYID.TAG.
func (k *Keyring) verify(payload string) (Decoded, error) {
	idStr, rest, _ := strings.Cut(payload, ".")
	kid, tagStr, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(tagStr, '.') >= 0 {
		return Decoded{}, decodeError(ErrMalformed, "signed payload %.80q is not ID.KEYID.TAG", payload)
	}
	id, err := parsePayloadID(idStr)
	if err != nil {
		return Decoded{}, err
	}
	if err := validateKeyID(kid); err != nil {
		return Decoded{}, decodeError(ErrMalformed, "%s", qrmfg.ErrorMessage(err))
	}
	var f Format
	switch len(tagStr) {
	case hmacTagChars:
		f = FormatSigned
	case edSigChars:
		f = FormatEd25519
	default:
		return Decoded{}, decodeError(ErrMalformed, "signature of %d characters is neither an HMAC tag (%d) nor an Ed25519 signature (%d)", len(tagStr), hmacTagChars, edSigChars)
	}
	tag, err := b32.DecodeString(tagStr)
	// Base32 without padding accepts non-canonical trailing bits; re-encoding
	// rejects them, so each tag has exactly one accepted spelling.
	if err != nil || b32.EncodeToString(tag) != tagStr {
		return Decoded{}, decodeError(ErrMalformed, "signature %.40q is not upper-case base32", tagStr)
	}
	msg := payload[:len(idStr)+1+len(kid)]
	d := Decoded{ID: id, Format: f, KeyID: kid}
	if f == FormatSigned {
		var secret []byte
		if k != nil {
			secret = k.hmac[kid]
		}
		if secret == nil {
			return Decoded{}, decodeError(ErrUnknownKey, "HMAC key %s is not in the keyring", kid)
		}
		if subtle.ConstantTimeCompare(hmacTag(secret, msg), tag) != 1 {
			return Decoded{}, decodeError(ErrBadSignature, "HMAC tag does not verify with key %s", kid)
		}
	} else {
		var pub ed25519.PublicKey
		if k != nil {
			pub = k.edPub[kid]
		}
		if pub == nil {
			return Decoded{}, decodeError(ErrUnknownKey, "Ed25519 key %s is not in the keyring", kid)
		}
		if !ed25519.Verify(pub, edMessage(msg), tag) {
			return Decoded{}, decodeError(ErrBadSignature, "Ed25519 signature does not verify with key %s", kid)
		}
	}
	d.Signed = true
	return d, nil
}
