package inventory

import (
	"context"
	"slices"
	"time"

	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// checkStock raises an alert once when available stock drops below a
// threshold, and resolves it (re-arming) when stock is back at or above it.
func (s *Service) checkStock(ctx context.Context, tx Tx, keys map[[2]string]bool) error {
	types := map[string]bool{}
	for k := range keys {
		types[k[0]] = true
	}
	for typ := range types {
		ths, err := tx.ThresholdsFor(ctx, typ)
		if err != nil {
			return err
		}
		for _, th := range ths {
			if th.VendorCode != "" && !keys[[2]string{typ, th.VendorCode}] {
				continue
			}
			if err := s.evaluate(ctx, tx, th); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) evaluate(ctx context.Context, tx Tx, th Threshold) error {
	n, err := tx.CountAvailable(ctx, th.ComponentType, th.VendorCode, th.Line)
	if err != nil {
		return err
	}
	open, err := tx.OpenAlert(ctx, th.ComponentType, th.VendorCode, th.Line)
	if err != nil {
		return err
	}
	data := map[string]any{"component_type": th.ComponentType, "vendor_code": th.VendorCode, "line": th.Line, "available": n, "threshold": th.MinAvailable}
	switch {
	case n < th.MinAvailable && open == nil:
		a := Alert{ID: qrmfg.NewID(), ComponentType: th.ComponentType, VendorCode: th.VendorCode, Line: th.Line,
			Threshold: th.MinAvailable, Available: n, State: AlertOpen, RaisedAt: tx.Now()}
		if err := tx.SaveAlert(ctx, a); err != nil {
			return err
		}
		data["alert_id"] = a.ID
		return s.emit(ctx, tx, EventStockLow, th.ComponentType, data)
	case n >= th.MinAvailable && open != nil:
		now := tx.Now()
		open.State, open.ResolvedAt, open.Available = AlertResolved, &now, n
		if err := tx.SaveAlert(ctx, *open); err != nil {
			return err
		}
		data["alert_id"] = open.ID
		return s.emit(ctx, tx, EventStockRecovered, th.ComponentType, data)
	case open != nil && open.Available != n:
		open.Available = n
		return tx.SaveAlert(ctx, *open)
	}
	return nil
}

func (s *Service) emit(ctx context.Context, tx Tx, typ, subject string, data any) error {
	ev, err := qrmfg.NewEvent(ctx, EventSource, typ, subject, data)
	if err != nil {
		return err
	}
	return tx.Emit(ctx, ev)
}

// SetThreshold sets the least available stock wanted for a component type
// (and vendor, "" for all vendors together) on a line ("" for the whole
// plant; a restricted actor sets them on its own lines only), and evaluates
// it at once.
func (s *Service) SetThreshold(ctx context.Context, in Threshold) (Threshold, error) {
	if err := partid.ValidateLot(in.ComponentType, orDefault(in.VendorCode, "X"), "X"); err != nil {
		return Threshold{}, err
	}
	if in.MinAvailable < 0 {
		return Threshold{}, qrmfg.FieldError("min_available", "min_available must be 0 or more, got %d", in.MinAvailable)
	}
	line, err := qrmfg.NewObjectLine(ctx, in.Line, "set a stock threshold on")
	if err != nil {
		return Threshold{}, err
	}
	var th Threshold
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		th = Threshold{ComponentType: in.ComponentType, VendorCode: in.VendorCode, Line: line, MinAvailable: in.MinAvailable, UpdatedAt: tx.Now()}
		if err := tx.SetThreshold(ctx, th); err != nil {
			return err
		}
		return s.evaluate(ctx, tx, th)
	})
	return th, err
}

// DeleteThreshold removes a threshold and resolves its open alert. A
// threshold the actor in ctx may not see does not exist for it.
func (s *Service) DeleteThreshold(ctx context.Context, typ, vendor, line string) error {
	line = stockLine(ctx, line)
	if !stockVisible(ctx, line) {
		return qrmfg.Errorf(qrmfg.ENOTFOUND, "no threshold for %s/%s", typ, vendor)
	}
	return s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.DeleteThreshold(ctx, typ, vendor, line); err != nil {
			return err
		}
		open, err := tx.OpenAlert(ctx, typ, vendor, line)
		if err != nil || open == nil {
			return err
		}
		now := tx.Now()
		open.State, open.ResolvedAt = AlertResolved, &now
		return tx.SaveAlert(ctx, *open)
	})
}

// Thresholds lists the thresholds the actor in ctx may see.
func (s *Service) Thresholds(ctx context.Context) ([]Threshold, error) {
	ths, err := s.store.Thresholds(ctx)
	return slices.DeleteFunc(ths, func(th Threshold) bool { return !stockVisible(ctx, th.Line) }), err
}

// Alerts lists alerts in a state: open, acknowledged, resolved, or "" for all.
func (s *Service) Alerts(ctx context.Context, state string) ([]Alert, error) {
	switch state {
	case "", AlertOpen, AlertAcknowledged, AlertResolved:
	default:
		return nil, qrmfg.FieldError("state", "unknown alert state %q; expected open, acknowledged or resolved", state)
	}
	as, err := s.store.Alerts(ctx, state)
	return slices.DeleteFunc(as, func(a Alert) bool { return !stockVisible(ctx, a.Line) }), err
}

// AcknowledgeAlert marks an open alert as seen; it stays until stock recovers.
func (s *Service) AcknowledgeAlert(ctx context.Context, id string) (Alert, error) {
	var a Alert
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if a, err = tx.GetAlert(ctx, id); err != nil {
			return err
		}
		if !stockVisible(ctx, a.Line) {
			return qrmfg.Errorf(qrmfg.ENOTFOUND, "alert %s does not exist", id)
		}
		if a.State != AlertOpen {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "alert %s is %s, not open", id, a.State)
		}
		now := tx.Now()
		a.State, a.AcknowledgedAt, a.AcknowledgedBy = AlertAcknowledged, &now, qrmfg.ActorFrom(ctx).ID
		return tx.SaveAlert(ctx, a)
	})
	return a, err
}

// Analytics summarises the inventory the actor in ctx may see (a restricted
// actor: the items of its lines and of no line, its lines' thresholds);
// PerDay covers [from, to).
func (s *Service) Analytics(ctx context.Context, from, to time.Time) (Analytics, error) {
	if to.IsZero() {
		to = time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -30)
	}
	if !from.Before(to) {
		return Analytics{}, qrmfg.FieldError("from", "from must be before to")
	}
	if to.Sub(from) > 366*24*time.Hour {
		return Analytics{}, qrmfg.FieldError("from", "the range is longer than 366 days")
	}
	var a Analytics
	var err error
	lines := qrmfg.LineScope(ctx)
	for _, c := range []struct {
		col string
		dst *[]Count
	}{{"status", &a.ByStatus}, {"component_type", &a.ByType}, {"vendor_code", &a.ByVendor}, {"lot_number", &a.ByLot}} {
		if *c.dst, err = s.store.Counts(ctx, c.col, lines); err != nil {
			return Analytics{}, err
		}
		sortCounts(*c.dst)
	}
	if a.PerDay, err = s.store.PerDay(ctx, from, to, lines); err != nil {
		return Analytics{}, err
	}
	ths, err := s.Thresholds(ctx)
	if err != nil {
		return Analytics{}, err
	}
	avail, err := s.store.AvailableBy(ctx)
	if err != nil {
		return Analytics{}, err
	}
	for _, th := range ths {
		var n int64
		for k, v := range avail {
			if k[0] == th.ComponentType && (th.VendorCode == "" || k[1] == th.VendorCode) && (th.Line == "" || k[2] == th.Line) {
				n += v
			}
		}
		a.Stock = append(a.Stock, StockLevel{th.ComponentType, th.VendorCode, th.Line, n, th.MinAvailable, n < th.MinAvailable})
	}
	return a, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
