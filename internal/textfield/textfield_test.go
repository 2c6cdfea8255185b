package textfield_test

import (
	"testing"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/textfield"
)

func TestCheckJSONNamesTheField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		doc, field string
	}{
		{`{"lot":"L1","attributes":{"color":"re\u0000d"}}`, "attributes.color"},
		{"{\"attributes\":{\"color\":\"r\xffd\"}}", "attributes.color"},
		{`{"attributes":{"a\u0000b":1}}`, "attributes"},
		{`{"codes":["A","B","C\u0000"]}`, "codes[2]"},
		{`{"x":[{"y":[1,{"z":"\u0000"}]}]}`, "x[0].y[1].z"},
		{`{"a":{"b":1},"c":[],"d":{},"name":"n\u0000"}`, "name"},
		{`"\u0000"`, ""},
	} {
		err := textfield.CheckJSON([]byte(c.doc))
		e := qrmfg.AsError(err)
		if e == nil || e.Code != qrmfg.EINVALID || e.Field != c.field {
			t.Errorf("CheckJSON(%q) = %v, want an invalid error on %s", c.doc, err, c.field)
		}
	}
	if err := textfield.CheckJSON([]byte(`{"a":"\\u0000","b":"\ufffd","c":"ü"}`)); err != nil {
		t.Errorf("CheckJSON of clean text = %v, want nil", err)
	}
	for _, doc := range []string{`{"a":`, `not json`, `{"a":"x\u0000`, `]`} {
		_ = textfield.CheckJSON([]byte(doc)) // malformed: no panic, the decoder reports it
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	if got := textfield.Sanitize("a\x00b\xffc"); got != "a\uFFFDb\uFFFDc" {
		t.Errorf("Sanitize = %q", got)
	}
	if textfield.Check("name", "plain ü") != nil || textfield.Check("name", "a\x00") == nil || textfield.Check("name", "\xc3") == nil {
		t.Error("Check accepts or refuses the wrong text")
	}
}
