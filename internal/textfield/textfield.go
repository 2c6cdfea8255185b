// Package textfield checks text that comes from outside before it reaches a
// database: PostgreSQL refuses a NUL character and invalid UTF-8 in text and
// JSONB columns, SQLite would store the bytes as they are, so both are
// refused at the edge with the field that holds them. Sanitize is for the
// one place that must keep such text anyway: the audit trail of the refusal.
package textfield

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Problem names what is wrong with s ("contains a NUL character (U+0000)",
// "is not valid UTF-8"), or returns "" when s is acceptable text.
func Problem(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL character (U+0000)"
	}
	return ""
}

// Check returns an EINVALID error naming field when s holds a NUL character
// or invalid UTF-8, and nil otherwise.
func Check(field, s string) error {
	if p := Problem(s); p != "" {
		return qrmfg.FieldError(field, "%s %s", field, p)
	}
	return nil
}

// Sanitize returns s with every invalid UTF-8 sequence and NUL character
// replaced by U+FFFD, so that it can be stored; it returns s itself when
// there is nothing to replace.
func Sanitize(s string) string {
	if Problem(s) == "" {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// CheckJSON walks a JSON document and returns an EINVALID error naming the
// first string (a value or a key) that holds a NUL character or invalid
// UTF-8 by its path: "attributes.color", "codes[2]" ("" for the document). The raw
// bytes are checked, since decoding would silently turn invalid UTF-8 into
// U+FFFD. A document that is not JSON returns nil: its syntax is for the
// decoder to report.
func CheckJSON(doc []byte) error {
	if utf8.Valid(doc) && !bytes.Contains(doc, []byte(`\u0000`)) {
		return nil // the fast path: nothing to find
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type frame struct {
		object bool
		key    string // the member being read, in an object
		index  int    // the element being read, in an array
		atKey  bool   // the next token of an object is a key
	}
	var stack []*frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.object {
				if f.key == "" {
					continue
				}
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			}
		}
		return b.String()
	}
	// next reads a token and where it starts; it stops at the end or at
	// what is not JSON (which the decoder of the body reports).
	next := func() (json.Token, int64, bool) {
		start := dec.InputOffset()
		tok, err := dec.Token()
		return tok, start, err == nil
	}
	for tok, start, ok := next(); ok; tok, start, ok = next() {
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{object: t == '{', atKey: t == '{'})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			raw := doc[start:dec.InputOffset()]
			bad := Problem(t)
			if !utf8.Valid(raw) {
				bad = Problem(string(raw))
			}
			if top != nil && top.object && top.atKey {
				top.key = ""
				if bad != "" {
					return qrmfg.FieldError(path(), "a key of %s %s", nonEmpty(path(), "the document"), bad)
				}
				top.key, top.atKey = t, false
				continue
			}
			if bad != "" {
				return qrmfg.FieldError(path(), "%s %s", nonEmpty(path(), "the document"), bad)
			}
		}
		// A value was read: move on to the next member or element.
		if len(stack) == 0 {
			return nil
		}
		if top = stack[len(stack)-1]; top.object {
			top.atKey = true
		} else {
			top.index++
		}
	}
	return nil
}

func nonEmpty(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}
