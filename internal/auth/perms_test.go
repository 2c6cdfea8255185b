package auth

import (
	"slices"
	"testing"
)

// TestRolesAreNested checks that each role may do everything the role below
// it may (viewer ⊂ operator ⊂ supervisor ⊂ admin). There are no documented
// exceptions.
func TestRolesAreNested(t *testing.T) {
	t.Parallel()
	for i := 1; i < len(Roles); i++ {
		lower, higher := Roles[i-1], Roles[i]
		for _, p := range Permissions() {
			if Allowed(lower, p.Operation) && !Allowed(higher, p.Operation) {
				t.Errorf("%s may %s but %s may not", lower, p.Operation, higher)
			}
		}
	}
}

func TestPermissionTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		role Role
		op   string
		want bool
	}{
		{RoleViewer, OpInventoryRead, true},
		{RoleViewer, OpInventoryWrite, false},
		{RoleOperator, OpScanningScan, true},
		{RoleOperator, OpMachinesUnlock, false},
		{RoleSupervisor, OpMachinesUnlock, true},
		{RoleSupervisor, OpUsersManage, false},
		{RoleAdmin, OpUsersManage, true},
		{RoleAdmin, "no.such.operation", false},
		{"root", OpInventoryRead, false},
	} {
		if got := Allowed(tc.role, tc.op); got != tc.want {
			t.Errorf("Allowed(%s, %s) = %v", tc.role, tc.op, got)
		}
	}
	for _, p := range Permissions() {
		if len(p.Roles) == 0 || !slices.Contains(p.Roles, RoleAdmin) {
			t.Errorf("%s: admin may not do it (roles %v)", p.Operation, p.Roles)
		}
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scope, op string
		want      bool
	}{
		{"scanning.scan", "scanning.scan", true},
		{"scanning.*", "scanning.scan", true},
		{"scanning.*", "scanning", false},
		{"scan.*", "scanning.scan", false},
		{"*", "users.manage", true},
		{"inventory.items.read", "inventory.items.write", false},
	} {
		if got := ScopeAllows(tc.scope, tc.op); got != tc.want {
			t.Errorf("ScopeAllows(%q, %q) = %v", tc.scope, tc.op, got)
		}
	}
	if ValidScope("nothing.*") || ValidScope("bogus") || !ValidScope("engraving.*") || !ValidScope(OpAuditRead) {
		t.Error("ValidScope")
	}
	k := APIKey{Role: RoleOperator, Scopes: []string{"scanning.*"}}.Principal()
	if !k.Can(OpScanningScan) || k.Can(OpInventoryWrite) || (APIKey{Role: RoleViewer, Scopes: []string{"*"}}).Principal().Can(OpScanningScan) {
		t.Error("an API key: scope and role must both allow")
	}
}
