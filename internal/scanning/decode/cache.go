package decode

import "sync/atomic"

// tableCache keeps per-version (or per-dimension) tables that are built on
// first use and then shared read only by every scan.
type tableCache[T any] struct{ slots []atomic.Pointer[T] }

func newTableCache[T any](n int) *tableCache[T] {
	return &tableCache[T]{slots: make([]atomic.Pointer[T], n)}
}

// get returns the table of key k, building it with build on first use;
// keys outside the cache are built every time.
func (c *tableCache[T]) get(k int, build func(int) T) T {
	if k < 0 || k >= len(c.slots) {
		return build(k)
	}
	if t := c.slots[k].Load(); t != nil {
		return *t
	}
	t := build(k)
	c.slots[k].Store(&t)
	return t
}
