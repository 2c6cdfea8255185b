package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qrmfg/qrmfg/internal/config"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// GS1GTINs parses QRMFG_GS1_GTINS (TYPE=GTIN14,…): the GTIN of each
// component type for gs1 payloads. Nil when it is not set.
func GS1GTINs(cfg config.Config) (map[string]string, error) {
	if cfg.Payload.GTINs == "" {
		return nil, nil
	}
	gtins := map[string]string{}
	for _, pair := range strings.Split(cfg.Payload.GTINs, ",") {
		typ, gtin, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, qrmfg.Errorf(qrmfg.EINVALID, "QRMFG_GS1_GTINS: %q is not TYPE=GTIN14", pair)
		}
		gtins[typ] = gtin
	}
	return gtins, nil
}

// payloadConfig builds the payload formats' configuration. Keys come from
// the environment; when none are set (the embedded shape), a key of each
// kind is generated once and kept under the data directory, so signed codes
// still verify after a restart.
func payloadConfig(cfg config.Config) (*partid.PayloadConfig, error) {
	gtins, err := GS1GTINs(cfg)
	if err != nil {
		return nil, err
	}
	pc := &partid.PayloadConfig{BaseURL: cfg.PayloadBaseURL, GS1Resolver: cfg.Payload.GS1Resolver, GTINs: gtins, Keys: partid.NewKeyring()}
	hmacKeys, err := keySpec(cfg, "QRMFG_PAYLOAD_HMAC_KEYS", cfg.Payload.HMACKeys, "payload-hmac.keys", func() []byte {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b
	})
	if err != nil {
		return nil, err
	}
	for i, k := range hmacKeys {
		if err := pc.Keys.AddHMAC(k.id, k.secret, i == 0); err != nil {
			return nil, qrmfg.Errorf(qrmfg.EINVALID, "QRMFG_PAYLOAD_HMAC_KEYS: %s", qrmfg.ErrorMessage(err))
		}
	}
	edKeys, err := keySpec(cfg, "QRMFG_PAYLOAD_ED25519_KEYS", cfg.Payload.Ed25519Keys, "payload-ed25519.keys", func() []byte {
		b := make([]byte, ed25519.SeedSize)
		_, _ = rand.Read(b)
		return b
	})
	if err != nil {
		return nil, err
	}
	for i, k := range edKeys {
		if len(k.secret) != ed25519.SeedSize {
			return nil, qrmfg.Errorf(qrmfg.EINVALID, "QRMFG_PAYLOAD_ED25519_KEYS: key %s has %d bytes; a seed has %d", k.id, len(k.secret), ed25519.SeedSize)
		}
		if err := pc.Keys.AddEd25519(k.id, ed25519.NewKeyFromSeed(k.secret), i == 0); err != nil {
			return nil, qrmfg.Errorf(qrmfg.EINVALID, "QRMFG_PAYLOAD_ED25519_KEYS: %s", qrmfg.ErrorMessage(err))
		}
	}
	if err := pc.Validate(); err != nil {
		return nil, err
	}
	return pc, nil
}

type namedKey struct {
	id     string
	secret []byte
}

// keySpec parses id=base64 pairs, or reads (and on first use writes) the
// key file under the data directory when the variable is empty.
func keySpec(cfg config.Config, name, spec, file string, gen func() []byte) ([]namedKey, error) {
	source := name
	if spec == "" {
		if cfg.IsPostgres() || cfg.Target != "all" {
			// Several processes must share keys: they come from the environment.
			return nil, nil
		}
		path := filepath.Join(cfg.DataDir, "keys", file)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			spec, source = strings.TrimSpace(string(b)), path
		case errors.Is(err, fs.ErrNotExist):
			spec = "K1=" + base64.StdEncoding.EncodeToString(gen())
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, fmt.Errorf("create key directory: %w", err)
			}
			if err := os.WriteFile(path, []byte(spec+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("write %s: %w", path, err)
			}
		default:
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	var out []namedKey
	for _, pair := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, qrmfg.Errorf(qrmfg.EINVALID, "%s: a key is not id=base64", source)
		}
		secret, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, qrmfg.Errorf(qrmfg.EINVALID, "%s: key %s is not base64: %v", source, id, err)
		}
		out = append(out, namedKey{id: id, secret: secret})
	}
	return out, nil
}
