package inventory

import (
	"context"

	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Install puts part child into assembly parent: the child becomes installed
// and records its parent. Installing an assembly into itself or into one of
// its own parts is refused.
func (s *Service) Install(ctx context.Context, childUID, parentUID, reason string) (Item, error) {
	for field, uid := range map[string]string{"uid": childUID, "parent_uid": parentUID} {
		if _, err := partid.Parse(uid); err != nil {
			e := qrmfg.AsError(err)
			return Item{}, qrmfg.FieldError(field, "%s", e.Message)
		}
	}
	if childUID == parentUID {
		return Item{}, qrmfg.FieldError("parent_uid", "an item cannot be installed into itself")
	}
	var out Item
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		child, err := tx.LockItem(ctx, childUID)
		if err == nil {
			err = checkVisible(ctx, child)
		}
		if err != nil {
			return err
		}
		parent, err := tx.LockItem(ctx, parentUID)
		if err == nil {
			err = checkVisible(ctx, parent)
		}
		if err != nil {
			return err
		}
		if child.ParentUID != "" {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "item %s is already installed in %s; remove it first", childUID, child.ParentUID)
		}
		// Walk up from the parent: meeting the child would close a cycle.
		for p, depth := parent, 0; p.ParentUID != ""; depth++ {
			if p.ParentUID == childUID || depth > s.limits.MaxTraceDep {
				return qrmfg.Errorf(qrmfg.ECONFLICT, "installing %s into %s would make %s part of itself", childUID, parentUID, childUID)
			}
			if p, err = tx.LockItem(ctx, p.ParentUID); err != nil {
				return err
			}
		}
		switch parent.Status {
		case StatusScrapped, StatusVoid, StatusDefective:
			return qrmfg.Errorf(qrmfg.ECONFLICT, "assembly %s is %s and cannot take parts", parentUID, parent.Status)
		}
		child.ParentUID = parentUID
		if err := s.transition(ctx, tx, &child, StatusInstalled, reason, ""); err != nil {
			return err
		}
		if err := s.recordLink(ctx, tx, child, parentUID, true, reason); err != nil {
			return err
		}
		out = child
		return nil
	})
	return out, err
}

// Remove takes a part out of its assembly; it goes back to the given status
// (available by default, or returned, defective, quarantined…).
func (s *Service) Remove(ctx context.Context, childUID string, to Status, reason string) (Item, error) {
	if _, err := partid.Parse(childUID); err != nil {
		return Item{}, err
	}
	if to == "" {
		to = StatusAvailable
	}
	if _, err := ParseStatus(string(to)); err != nil {
		return Item{}, err
	}
	var out Item
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		child, err := tx.LockItem(ctx, childUID)
		if err == nil {
			err = checkVisible(ctx, child)
		}
		if err != nil {
			return err
		}
		if child.ParentUID == "" {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "item %s is not installed in an assembly", childUID)
		}
		parentUID := child.ParentUID
		child.ParentUID = ""
		if err := s.transition(ctx, tx, &child, to, reason, ""); err != nil {
			return err
		}
		if err := s.recordLink(ctx, tx, child, parentUID, false, reason); err != nil {
			return err
		}
		out = child
		return nil
	})
	return out, err
}

// recordLink writes the history of both items, the event, and re-checks stock
// after a part was installed into (or removed from) an assembly.
func (s *Service) recordLink(ctx context.Context, tx Tx, child Item, parentUID string, installed bool, reason string) error {
	actor := qrmfg.ActorFrom(ctx)
	ch := HistoryEntry{ItemUID: child.UID, Kind: "removed", From: parentUID, Actor: actor.ID, Reason: reason, At: tx.Now()}
	pa := HistoryEntry{ItemUID: parentUID, Kind: "part_removed", From: child.UID, Actor: actor.ID, Reason: reason, At: tx.Now()}
	typ := EventItemRemoved
	if installed {
		ch.Kind, ch.From, ch.To = "installed", "", parentUID
		pa.Kind, pa.From, pa.To = "part_added", "", child.UID
		typ = EventItemInstalled
	}
	for _, h := range []HistoryEntry{ch, pa} {
		if err := tx.AddHistory(ctx, h); err != nil {
			return err
		}
	}
	ev, err := qrmfg.NewEvent(ctx, EventSource, typ, child.UID, map[string]string{"uid": child.UID, "parent_uid": parentUID})
	if err != nil {
		return err
	}
	if err := tx.Emit(ctx, ev); err != nil {
		return err
	}
	return s.checkStock(ctx, tx, map[[2]string]bool{{child.ComponentType, child.VendorCode}: true})
}

// Upstream returns the tree of parts installed in uid, to any depth (bounded
// by the configured trace depth).
func (s *Service) Upstream(ctx context.Context, uid string) (*Node, error) {
	if _, err := partid.Parse(uid); err != nil {
		return nil, err
	}
	root, err := s.store.GetItem(ctx, uid)
	if err == nil {
		err = checkVisible(ctx, root)
	}
	if err != nil {
		return nil, err
	}
	n := &Node{Item: root}
	seen := map[string]bool{uid: true}
	var walk func(*Node, int) error
	walk = func(n *Node, depth int) error {
		if depth >= s.limits.MaxTraceDep {
			return nil
		}
		kids, err := s.store.Children(ctx, n.Item.UID)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if seen[k.UID] {
				continue
			}
			seen[k.UID] = true
			c := &Node{Item: k}
			n.Children = append(n.Children, c)
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return n, walk(n, 0)
}

// Downstream returns where uid is used: its assembly, that assembly's
// assembly, and so on up to the top, nearest first.
func (s *Service) Downstream(ctx context.Context, uid string) ([]Item, error) {
	if _, err := partid.Parse(uid); err != nil {
		return nil, err
	}
	it, err := s.store.GetItem(ctx, uid)
	if err == nil {
		err = checkVisible(ctx, it)
	}
	if err != nil {
		return nil, err
	}
	var out []Item
	seen := map[string]bool{uid: true}
	for it.ParentUID != "" && len(out) < s.limits.MaxTraceDep && !seen[it.ParentUID] {
		seen[it.ParentUID] = true
		if it, err = s.store.GetItem(ctx, it.ParentUID); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}
