package generation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
)

// startJob renders a background batch's artifact.
func (s *Service) startJob(rec Record, b inventory.Batch) {
	s.mu.Lock()
	s.running[rec.BatchID] = struct{}{}
	s.mu.Unlock()
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		defer func() {
			s.mu.Lock()
			delete(s.running, rec.BatchID)
			s.mu.Unlock()
		}()
		s.runJob(context.Background(), rec, b)
	}()
}

func (s *Service) runJob(ctx context.Context, rec Record, b inventory.Batch) {
	c, err := rec.Spec.compile(s.payloads)
	if err == nil {
		err = s.renderArtifact(ctx, &rec, b, c)
	}
	rec.UpdatedAt = time.Now().UTC()
	if err != nil {
		s.log.Error("background batch failed", "batch", rec.BatchID, "err", err)
		rec.Status, rec.Error = StatusFailed, err.Error()
	} else {
		rec.Status, rec.Done = StatusCompleted, rec.Total
	}
	if err := s.store.SaveRecord(context.WithoutCancel(ctx), rec); err != nil {
		s.log.Error("save batch record", "batch", rec.BatchID, "err", err)
	}
	s.publish(rec)
}

func (s *Service) renderArtifact(ctx context.Context, rec *Record, b inventory.Batch, c compiled) error {
	rec.Status = StatusRunning
	rec.Artifact = s.artifactPath(rec.BatchID, rec.Format)
	if err := s.store.SaveRecord(ctx, *rec); err != nil {
		return err
	}
	s.publish(*rec)
	if err := os.MkdirAll(filepath.Dir(rec.Artifact), 0o750); err != nil {
		return fmt.Errorf("create artifact directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(rec.Artifact), rec.BatchID+".*.tmp")
	if err != nil {
		return fmt.Errorf("create artifact: %w", err)
	}
	defer os.Remove(tmp.Name())
	last := time.Now()
	progress := func(done int) {
		rec.Done = done
		if time.Since(last) > 250*time.Millisecond {
			last = time.Now()
			rec.UpdatedAt = last.UTC()
			_ = s.store.SaveRecord(ctx, *rec)
			s.publish(*rec)
		}
	}
	r := &Result{Batch: b, Record: *rec, c: c}
	switch rec.Format {
	case FormatPDF:
		err = s.WritePDF(ctx, tmp, r, progress)
	case FormatZIP:
		err = s.WriteZIP(ctx, tmp, r, progress)
	default:
		err = s.WriteCSV(ctx, tmp, r)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), rec.Artifact)
}

// Resume restarts background batches interrupted by a stop. Rendering is
// deterministic and the serials were allocated before the record was
// written, so starting over is safe.
func (s *Service) Resume(ctx context.Context) error {
	s.removeStale()
	recs, err := s.store.Unfinished(ctx)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		b, err := s.inv.GetBatch(ctx, rec.BatchID)
		if err != nil {
			s.log.Error("cannot resume batch", "batch", rec.BatchID, "err", err)
			continue
		}
		s.log.Info("resuming background batch", "batch", rec.BatchID, "count", rec.Total)
		rec.Done = 0
		s.startJob(rec, b)
	}
	return nil
}

// removeStale deletes the partial artifacts (*.tmp) that a process killed
// while rendering left behind, except those of jobs running here. Their
// batches start over (see Resume); without this each crash would leave a
// file as large as the part it had written, for ever.
func (s *Service) removeStale() {
	dir := filepath.Join(s.opt.DataDir, "batches")
	tmps, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, path := range tmps {
		batchID, _, _ := strings.Cut(filepath.Base(path), ".")
		if _, ok := s.running[batchID]; ok {
			continue
		}
		if err := os.Remove(path); err != nil {
			s.log.Warn("cannot remove a partial batch artifact", "path", path, "err", err)
			continue
		}
		s.log.Info("removed the partial artifact of an interrupted batch", "path", path, "batch", batchID)
	}
}

// Wait blocks until every background job has finished.
func (s *Service) Wait() { s.jobs.Wait() }

// Subscribe returns a channel of a batch's progress records and a function
// that ends the subscription.
func (s *Service) Subscribe(batchID string) (<-chan Record, func()) {
	ch := make(chan Record, 16)
	s.mu.Lock()
	if s.subs[batchID] == nil {
		s.subs[batchID] = map[chan Record]struct{}{}
	}
	s.subs[batchID][ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs[batchID], ch)
		if len(s.subs[batchID]) == 0 {
			delete(s.subs, batchID)
		}
		s.mu.Unlock()
	}
}

func (s *Service) publish(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs[r.BatchID] {
		select {
		case ch <- r:
		default: // a slow listener misses an intermediate update, never the last poll
		}
	}
}
