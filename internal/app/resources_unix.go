//go:build unix

package app

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func readProcessLimits() processLimits {
	var pl processLimits
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &r) == nil && r.Cur != unix.RLIM_INFINITY {
		pl.openFiles = r.Cur
	}
	if unix.Getrlimit(unix.RLIMIT_AS, &r) == nil && r.Cur != unix.RLIM_INFINITY {
		pl.addressSpace = r.Cur
	}
	// The first field of statm is the mapped size in pages (Linux).
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if pages, err := strconv.ParseUint(f[0], 10, 64); err == nil {
				pl.mapped = pages * uint64(os.Getpagesize())
			}
		}
	}
	return pl
}
