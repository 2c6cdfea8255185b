package csvcell

import "testing"

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "'=x": "''=x", "''": "''", "PAD-V0100-L1-00001": "PAD-V0100-L1-00001", "": "", "a=b": "a=b",
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRestoreUndoesSafe(t *testing.T) {
	for _, s := range []string{"=1+2", "+1", "-2", "@x", "\tx", "\rx", "'=already quoted", "'", "plain", "", "it's"} {
		if got := Restore(Safe(s)); got != s {
			t.Errorf("Restore(Safe(%q)) = %q", s, got)
		}
	}
}
