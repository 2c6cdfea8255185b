package app

import (
	"log/slog"
	"math"
	"runtime/debug"
)

// processLimits are the operating system's limits on this process that
// the API sizes its admission by; zero means unknown or unlimited.
type processLimits struct {
	openFiles    uint64 // RLIMIT_NOFILE (Go raises the soft limit to the hard one at start)
	addressSpace uint64 // RLIMIT_AS
	mapped       uint64 // address space mapped now (the Go runtime reserves about 1 GiB at start)
}

// decodeMemory fits the photo decode budget into the process's memory: under
// an address-space limit with no GOMEMLIMIT, it sets the Go memory limit to
// three quarters of the address space left (so the collector works before
// an allocation fails), and the decodes get at most half of the Go memory
// limit, the rest being for everything else.
func decodeMemory(configured int64, pl processLimits, log *slog.Logger) int64 {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 && pl.addressSpace > 0 && pl.addressSpace < math.MaxInt64 {
		left := int64(pl.addressSpace) - int64(pl.mapped)
		limit = max(left/4*3, 32<<20)
		debug.SetMemoryLimit(limit)
		log.Info("address space is limited: Go memory limit set", "rlimit_as", pl.addressSpace, "mapped", pl.mapped, "memory_limit", limit)
	}
	budget := configured
	if limit != math.MaxInt64 {
		budget = min(budget, limit/2)
	}
	if budget < configured {
		log.Info("photo decode memory lowered to fit the memory limit", "configured", configured, "budget", budget)
	}
	return budget
}
