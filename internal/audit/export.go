package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/qrmfg/qrmfg/internal/csvcell"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// CSVHeader is the first row of WriteCSV.
var CSVHeader = []string{"seq", "time", "actor_kind", "actor_id", "actor_name", "action", "object_type", "object_id",
	"outcome", "request_id", "before", "after", "prev_hash", "hash"}

// WriteCSV streams the entries matching f to w as CSV.
func WriteCSV(ctx context.Context, w io.Writer, store Store, f Filter) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("write audit CSV: %w", err)
	}
	err := store.Scan(ctx, f, func(e Entry) error {
		rec := []string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(TimeLayout), e.Actor.Kind, e.Actor.ID, e.Actor.Name,
			e.Action, e.ObjectType, e.ObjectID, string(e.Outcome), e.RequestID, string(e.Before), string(e.After),
			e.PrevHash.String(), e.Hash.String()}
		for i := range rec {
			rec[i] = csvcell.Safe(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write audit CSV: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON streams the entries matching f to w as one JSON array, one entry
// per line.
func WriteJSON(ctx context.Context, w io.Writer, store Store, f Filter) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return fmt.Errorf("write audit JSON: %w", err)
	}
	first := true
	err := store.Scan(ctx, f, func(e Entry) error {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode audit entry %d: %w", e.Seq, err)
		}
		sep := ",\n"
		if first {
			sep, first = "\n", false
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return fmt.Errorf("write audit JSON: %w", err)
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write audit JSON: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n]\n")
	return err
}

// WriteCheckpoints writes checkpoints as a JSON array, for an outside copy.
func WriteCheckpoints(w io.Writer, cps []Checkpoint) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if cps == nil {
		cps = []Checkpoint{}
	}
	return enc.Encode(cps)
}

// ReadCheckpoints reads what WriteCheckpoints wrote.
func ReadCheckpoints(r io.Reader) ([]Checkpoint, error) {
	var cps []Checkpoint
	if err := json.NewDecoder(r).Decode(&cps); err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	return cps, nil
}

// Export streams the entries matching f to w as "csv" or "json".
func (l *Log) Export(ctx context.Context, w io.Writer, f Filter, format string) error {
	switch format {
	case "csv":
		return WriteCSV(ctx, w, l.store, f)
	case "json":
		return WriteJSON(ctx, w, l.store, f)
	}
	return qrmfg.FieldError("format", "format must be csv or json")
}
