package auth

import (
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		h, want string
		ok      bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic dXNlcjpwdw==", "", false},
		{"Bearerabc", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc\x00", "", false},
		{"Bearer abc\t", "", false},
		{"Bearer " + strings.Repeat("a", 9000), "", false},
	} {
		got, err := ParseAuthorization(tc.h)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseAuthorization(%.40q) = %q, %v", tc.h, got, err)
		}
		if err != nil && qrmfg.ErrorCode(err) != qrmfg.EUNAUTHORIZED {
			t.Errorf("%.40q: code %s", tc.h, qrmfg.ErrorCode(err))
		}
	}
}

func TestPrincipal(t *testing.T) {
	t.Parallel()
	op := Principal{Kind: "user", Role: RoleOperator, Lines: []string{"L1"}}
	if !op.Can(OpScanningScan) || op.Can(OpMachinesUnlock) {
		t.Error("operator permissions")
	}
	if err := op.Authorize(OpMachinesUnlock); qrmfg.ErrorCode(err) != qrmfg.EFORBIDDEN {
		t.Errorf("Authorize: %v", err)
	}
	if !op.CanAccessLine("L1") || op.CanAccessLine("L2") || !op.CanAccessLine("") {
		t.Error("line restriction")
	}
	if !(Principal{Role: RoleViewer}).CanAccessLine("L9") {
		t.Error("an unrestricted principal may access every line")
	}
	key := Principal{Kind: "api_key", Role: RoleAdmin, Scopes: []string{"scanning.scan"}}
	if !key.Can(OpScanningScan) || key.Can(OpUsersManage) {
		t.Error("an API key is limited to its scopes whatever its role")
	}
	if a := op.Actor(); a.Kind != "user" || a.Role != "operator" || len(a.Lines) != 1 {
		t.Errorf("Actor = %+v", a)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("Bearer abc")
	f.Add("Basic x")
	f.Add("bearer  qrmfg_x")
	f.Fuzz(func(t *testing.T, h string) {
		cred, err := ParseAuthorization(h)
		if err != nil {
			if qrmfg.ErrorCode(err) != qrmfg.EUNAUTHORIZED {
				t.Fatalf("code %s", qrmfg.ErrorCode(err))
			}
			return
		}
		if cred == "" || strings.ContainsAny(cred, " \t\r\n\x00") || !strings.HasSuffix(h, cred) || !strings.EqualFold(h[:7], "bearer ") {
			t.Fatalf("ParseAuthorization(%q) = %q", h, cred)
		}
	})
}
