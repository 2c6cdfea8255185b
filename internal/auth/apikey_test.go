package auth

import (
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func TestAPIKeyFormat(t *testing.T) {
	t.Parallel()
	key, p := NewAPIKeyString()
	if len(key) != APIKeyLen || !strings.HasPrefix(key, "qrmfg_"+p.Prefix+"_") {
		t.Fatalf("key %q (prefix %q)", key, p.Prefix)
	}
	q, err := ParseAPIKey(key)
	if err != nil || q.Prefix != p.Prefix || string(q.SecretHash) != string(p.SecretHash) {
		t.Fatalf("ParseAPIKey(own key) = %+v, %v", q, err)
	}
	key2, _ := NewAPIKeyString()
	if key2 == key {
		t.Fatal("two keys are equal")
	}
}

// TestAPIKeyTypos is T5's checksum part: every single-character substitution
// of a key is rejected by ParseAPIKey alone (no store involved).
func TestAPIKeyTypos(t *testing.T) {
	t.Parallel()
	tried, rejected := 0, 0
	for range 4 {
		key, _ := NewAPIKeyString()
		for i := len("qrmfg_"); i < len(key); i++ {
			if key[i] == '_' {
				continue
			}
			for _, c := range []byte(base62) {
				if c == key[i] {
					continue
				}
				typo := key[:i] + string(c) + key[i+1:]
				tried++
				if _, err := ParseAPIKey(typo); err != nil {
					rejected++
				}
			}
		}
	}
	t.Logf("T5 single-character substitutions rejected by checksum: %d/%d", rejected, tried)
	if rejected != tried || tried < 10000 {
		t.Fatalf("rejected %d of %d substitutions", rejected, tried)
	}
}

func TestParseAPIKeyRejects(t *testing.T) {
	t.Parallel()
	key, _ := NewAPIKeyString()
	for _, tc := range []struct{ name, key, reason string }{
		{"empty", "", "length"},
		{"truncated", key[:len(key)-1], "length"},
		{"other tag", "ghp_a" + key[5:], "not a qrmfg"},
		{"missing separator", key[:14] + "X" + key[15:], "not a qrmfg"},
		{"bad character", key[:20] + "-" + key[21:], "character"},
	} {
		_, err := ParseAPIKey(tc.key)
		if qrmfg.ErrorCode(err) != qrmfg.EUNAUTHORIZED || !strings.Contains(RejectReason(err), tc.reason) {
			t.Errorf("%s: %v (reason %q), want %q", tc.name, err, RejectReason(err), tc.reason)
		}
	}
}

func FuzzParseAPIKey(f *testing.F) {
	key, _ := NewAPIKeyString()
	f.Add(key)
	f.Add("qrmfg_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseAPIKey(s)
		if err != nil {
			if qrmfg.ErrorCode(err) != qrmfg.EUNAUTHORIZED {
				t.Fatalf("code %q", qrmfg.ErrorCode(err))
			}
			return
		}
		if len(s) != APIKeyLen || p.Prefix != s[6:14] || crcBase62(s[:len(s)-6]) != s[len(s)-6:] {
			t.Fatalf("accepted %q", s)
		}
	})
}
