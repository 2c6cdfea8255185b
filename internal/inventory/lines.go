package inventory

import (
	"context"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Production lines (see qrmfg.LineVisible): an item (and its batch) may
// belong to a line; to an actor restricted to other lines it does not exist.

// checkVisible returns ENOTFOUND for an item the actor may not see.
func checkVisible(ctx context.Context, it Item) error {
	return qrmfg.CheckLine(ctx, it.Line, "item", it.UID)
}
