package inventory

import (
	"context"
	"strings"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Production lines (see qrmfg.LineVisible): an item (and its batch) may
// belong to a line; to an actor restricted to other lines it does not exist.

// checkVisible returns ENOTFOUND for an item the actor may not see.
func checkVisible(ctx context.Context, it Item) error {
	return qrmfg.CheckLine(ctx, it.Line, "item", it.UID)
}

// Stock thresholds and their alerts belong to a line, or with no line to the
// whole plant: a plant-wide figure counts every line's stock, so only an
// actor that sees every line sees plant-wide thresholds and alerts. A
// restricted actor sees, sets and acknowledges those of its own lines.
func stockVisible(ctx context.Context, line string) bool {
	return len(qrmfg.LineScope(ctx)) == 0 || line != "" && qrmfg.LineVisible(ctx, line)
}

// stockLine is the line of a threshold the actor in ctx names: the given
// one, or a restricted actor's only line.
func stockLine(ctx context.Context, line string) string {
	line = strings.TrimSpace(line)
	if scope := qrmfg.LineScope(ctx); line == "" && len(scope) == 1 {
		return scope[0]
	}
	return line
}
