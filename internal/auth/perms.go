package auth

import (
	"slices"
	"sort"
	"strings"
)

// Role is what a user may do. Roles are ordered: each includes the
// permissions of the one below it (viewer ⊂ operator ⊂ supervisor ⊂ admin).
type Role string

// The roles, lowest first.
const (
	RoleViewer     Role = "viewer"
	RoleOperator   Role = "operator"
	RoleSupervisor Role = "supervisor"
	RoleAdmin      Role = "admin"
)

// Roles lists the roles, lowest first.
var Roles = []Role{RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Operations. An operation is "<context>.<object>.<verb>"; routes name the one
// they need, API key scopes grant them (see ScopeAllows).
const (
	OpInventoryRead      = "inventory.items.read"
	OpInventoryWrite     = "inventory.items.write"
	OpInventoryVoid      = "inventory.items.void"
	OpQRGenerate         = "qr.generate"
	OpGenerationRead     = "generation.batches.read"
	OpEngravingRead      = "engraving.jobs.read"
	OpEngravingWrite     = "engraving.jobs.write"
	OpMachinesRead       = "engraving.machines.read"
	OpMachinesControl    = "engraving.machines.control"
	OpMachinesUnlock     = "engraving.machines.unlock"
	OpMachinesManage     = "engraving.machines.manage"
	OpScanningScan       = "scanning.scan"
	OpScanningRead       = "scanning.read"
	OpScanningSessions   = "scanning.sessions.write"
	OpReportsRead        = "reports.read"
	OpAuditRead          = "audit.read"
	OpAuditVerify        = "audit.verify"
	OpUsersManage        = "users.manage"
	OpAPIKeysManage      = "apikeys.manage"
	OpOwnProfile         = "self.profile"
	OpOwnSessionsManage  = "self.sessions"
	OpInventoryImport    = "inventory.items.import"
	OpInventoryConfigure = "inventory.thresholds.write"
	OpEngravingResolve   = "engraving.jobs.resolve"
)

// permissions is THE permission table: operation → roles allowed. It is
// written out per role (not "minimum role") so that a change to one cell is
// visible in review; TestRolesAreNested checks the nesting.
var permissions = map[string][]Role{
	OpOwnProfile:         {RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin},
	OpOwnSessionsManage:  {RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin},
	OpInventoryRead:      {RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin},
	OpGenerationRead:     {RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin},
	OpEngravingRead:      {RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin},
	OpMachinesRead:       {RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin},
	OpScanningRead:       {RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin},
	OpReportsRead:        {RoleViewer, RoleOperator, RoleSupervisor, RoleAdmin},
	OpInventoryWrite:     {RoleOperator, RoleSupervisor, RoleAdmin},
	OpQRGenerate:         {RoleOperator, RoleSupervisor, RoleAdmin},
	OpEngravingWrite:     {RoleOperator, RoleSupervisor, RoleAdmin},
	OpMachinesControl:    {RoleOperator, RoleSupervisor, RoleAdmin},
	OpScanningScan:       {RoleOperator, RoleSupervisor, RoleAdmin},
	OpScanningSessions:   {RoleOperator, RoleSupervisor, RoleAdmin},
	OpInventoryVoid:      {RoleSupervisor, RoleAdmin},
	OpInventoryImport:    {RoleSupervisor, RoleAdmin},
	OpInventoryConfigure: {RoleSupervisor, RoleAdmin},
	OpEngravingResolve:   {RoleSupervisor, RoleAdmin},
	OpMachinesUnlock:     {RoleSupervisor, RoleAdmin},
	OpAuditRead:          {RoleSupervisor, RoleAdmin},
	OpMachinesManage:     {RoleAdmin},
	OpAuditVerify:        {RoleAdmin},
	OpUsersManage:        {RoleAdmin},
	OpAPIKeysManage:      {RoleAdmin},
}

// Allowed reports whether role may perform op. Unknown operations and roles
// are denied.
func Allowed(role Role, op string) bool {
	return slices.Contains(permissions[op], role)
}

// Known reports whether op is in the permission table.
func Known(op string) bool {
	_, ok := permissions[op]
	return ok
}

// Permission is one row of the permission table.
type Permission struct {
	Operation string `json:"operation"`
	Roles     []Role `json:"roles"`
}

// Permissions returns the table sorted by operation, for documentation.
func Permissions() []Permission {
	out := make([]Permission, 0, len(permissions))
	for op, roles := range permissions {
		out = append(out, Permission{Operation: op, Roles: slices.Clone(roles)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Operation < out[j].Operation })
	return out
}

// ScopeAllows reports whether an API key scope grants op: the scope is the
// operation itself, a prefix ending in ".*" ("inventory.*"), or "*".
func ScopeAllows(scope, op string) bool {
	if scope == "*" || scope == op {
		return true
	}
	if p, ok := strings.CutSuffix(scope, ".*"); ok {
		return strings.HasPrefix(op, p+".")
	}
	return false
}

// ValidScope reports whether scope names a known operation or a prefix of one.
func ValidScope(scope string) bool {
	if scope == "*" || Known(scope) {
		return true
	}
	p, ok := strings.CutSuffix(scope, ".*")
	if !ok || p == "" {
		return false
	}
	for op := range permissions {
		if strings.HasPrefix(op, p+".") {
			return true
		}
	}
	return false
}
