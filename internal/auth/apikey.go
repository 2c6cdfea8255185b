package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"hash/crc32"
	"math/big"
	"strings"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// API key format: qrmfg_<prefix 8>_<secret 40><checksum 6>, every part in
// base62. The prefix is the lookup key (stored in clear), the secret carries
// about 238 bits and is stored only as SHA-256, the checksum is CRC32 (IEEE)
// of everything before it, so a mistyped key is rejected without a database
// lookup (the GitHub token format, reliability.md §1.5).
const (
	apiKeyTag       = "qrmfg_"
	apiKeyPrefixLen = 8
	apiKeySecretLen = 40
	apiKeyCRCLen    = 6
	// APIKeyLen is the length of an API key.
	APIKeyLen = len(apiKeyTag) + apiKeyPrefixLen + 1 + apiKeySecretLen + apiKeyCRCLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ParsedAPIKey is an API key taken apart.
type ParsedAPIKey struct {
	Prefix     string // lookup key
	SecretHash []byte // SHA-256 of the whole key
}

// NewAPIKeyString returns a fresh random API key and its parts.
func NewAPIKeyString() (string, ParsedAPIKey) {
	body := apiKeyTag + randomBase62(apiKeyPrefixLen) + "_" + randomBase62(apiKeySecretLen)
	key := body + crcBase62(body)
	p, _ := ParseAPIKey(key)
	return key, p
}

// ParseAPIKey checks the format and checksum of key without touching any
// store. Failures are EUNAUTHORIZED with Detail "reason".
func ParseAPIKey(key string) (ParsedAPIKey, error) {
	bad := func(reason string) (ParsedAPIKey, error) {
		return ParsedAPIKey{}, qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid API key").WithDetail("reason", reason)
	}
	if len(key) != APIKeyLen {
		return bad("wrong length")
	}
	if !strings.HasPrefix(key, apiKeyTag) || key[len(apiKeyTag)+apiKeyPrefixLen] != '_' {
		return bad("not a qrmfg API key")
	}
	prefix := key[len(apiKeyTag) : len(apiKeyTag)+apiKeyPrefixLen]
	rest := key[len(apiKeyTag)+apiKeyPrefixLen+1:]
	if !isBase62(prefix) || !isBase62(rest) {
		return bad("bad character")
	}
	body, sum := key[:len(key)-apiKeyCRCLen], key[len(key)-apiKeyCRCLen:]
	if crcBase62(body) != sum {
		return bad("checksum mismatch")
	}
	h := sha256.Sum256([]byte(key))
	return ParsedAPIKey{Prefix: prefix, SecretHash: h[:]}, nil
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return false
		}
	}
	return true
}

func crcBase62(s string) string {
	n := crc32.ChecksumIEEE([]byte(s))
	var b [apiKeyCRCLen]byte
	for i := apiKeyCRCLen - 1; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return string(b[:])
}

// RandomPassword returns a password of 20 random base62 characters (about
// 119 bits), for accounts whose first password is generated and shown once.
func RandomPassword() string { return randomBase62(20) }

func randomBase62(n int) string {
	b := make([]byte, n)
	max := big.NewInt(62)
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error()) // crypto/rand never fails on supported platforms
		}
		b[i] = base62[v.Int64()]
	}
	return string(b)
}
