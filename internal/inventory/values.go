package inventory

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

var base64URL = base64.RawURLEncoding

// MaxAttributesBytes bounds an item's free attributes.
const MaxAttributesBytes = 16 << 10

// parseDate parses an optional YYYY-MM-DD date.
func parseDate(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, qrmfg.FieldError(field, "%s %q is not a date of the form YYYY-MM-DD", field, s)
	}
	if t.Year() < 1900 || t.Year() > 2200 {
		return time.Time{}, qrmfg.FieldError(field, "%s %q is out of range", field, s)
	}
	return t, nil
}

// normaliseAttributes checks that attributes are a JSON object and compacts them.
func normaliseAttributes(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return json.RawMessage("{}"), nil
	}
	if len(raw) > MaxAttributesBytes {
		return nil, qrmfg.FieldError("attributes", "attributes are larger than %d bytes", MaxAttributesBytes)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, qrmfg.FieldError("attributes", "attributes must be a JSON object")
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, qrmfg.FieldError("attributes", "attributes cannot be encoded: %v", err)
	}
	return out, nil
}

// mergePatch applies an RFC 7386 JSON merge patch to an attributes object.
func mergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	var base map[string]any
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &base); err != nil {
			return nil, qrmfg.Errorf(qrmfg.EINTERNAL, "stored attributes are not an object")
		}
	}
	if base == nil {
		base = map[string]any{}
	}
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return nil, qrmfg.FieldError("attributes", "attributes must be a JSON object")
	}
	mergeInto(base, p)
	out, err := json.Marshal(base)
	if err != nil {
		return nil, qrmfg.FieldError("attributes", "attributes cannot be encoded: %v", err)
	}
	if len(out) > MaxAttributesBytes {
		return nil, qrmfg.FieldError("attributes", "attributes would be larger than %d bytes", MaxAttributesBytes)
	}
	return out, nil
}

func mergeInto(dst, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, pm)
				continue
			}
			nm := map[string]any{}
			mergeInto(nm, pm)
			dst[k] = nm
			continue
		}
		dst[k] = v
	}
}
