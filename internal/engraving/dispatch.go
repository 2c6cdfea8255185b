package engraving

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving/grbl"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Start interrupts the jobs a crashed runner left running, reconnects the
// machines that were connected when the server stopped, and starts the
// dispatcher. Close stops it.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return qrmfg.Errorf(qrmfg.ECONFLICT, "the engraving dispatcher is already started")
	}
	s.started = true
	s.mu.Unlock()
	before := time.Now().Add(-s.opt.HeartbeatTimeout)
	if s.opt.Exclusive {
		before = time.Now().Add(time.Hour) // every running job was ours
	}
	if _, err := s.interruptStale(ctx, before, "crash",
		"the server stopped while the job ran; the part may be partly engraved", "the server stopped during a job"); err != nil {
		return fmt.Errorf("recover running jobs: %w", err)
	}
	ms, err := s.store.ListMachines(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.AutoConnect && !m.Simulated {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if _, err := s.Connect(s.ctx, m.ID); err != nil {
					s.log.Warn("reconnect machine", "machine", m.Name, "address", m.Address, "err", err)
				}
			}()
		}
	}
	s.wg.Add(1)
	go s.loop()
	return nil
}

// Close stops the dispatcher. A job still running is stopped (feed hold,
// soft reset, laser off) and left interrupted for an operator to resolve.
// Links to the machines are closed.
func (s *Service) Close() error {
	for _, rt := range s.connectedMachines() {
		rt.stop(stopShutdown)
	}
	s.cancel()
	s.wg.Wait()
	for _, rt := range s.connectedMachines() {
		rt.mu.Lock()
		conn := rt.conn
		rt.conn, rt.state = nil, MachineDisconnected
		rt.mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
	}
	return nil
}

func (s *Service) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.DispatchInterval)
	defer t.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
		if !s.opt.Exclusive && time.Since(lastSweep) > s.opt.HeartbeatTimeout/3 {
			lastSweep = time.Now()
			if _, err := s.interruptStale(s.ctx, time.Now().Add(-s.opt.HeartbeatTimeout), "lost",
				"the dispatcher running the job stopped writing progress; the part may be partly engraved",
				"the dispatcher running a job stopped writing progress"); err != nil && s.ctx.Err() == nil {
				s.log.Warn("sweep stale jobs", "err", err)
			}
		}
		s.dispatch()
	}
}

// interruptStale marks running jobs without a recent heartbeat interrupted
// and pauses their machines with the reason pause: the fixture may hold a
// half-burned part, and the pause is stored, so it holds across restarts
// until an operator resumes the machine.
func (s *Service) interruptStale(ctx context.Context, before time.Time, code, text, pause string) ([]Job, error) {
	var out []Job
	var machines []Machine
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		jobs, err := tx.StaleRunning(ctx, before)
		if err != nil {
			return err
		}
		for i := range jobs {
			j := &jobs[i]
			if s.runnerOf(j.ID) != nil {
				continue // ours and alive
			}
			now := tx.Now()
			j.Status, j.FinishedAt, j.ErrorCode, j.ErrorText = JobInterrupted, &now, code, text
			if err := tx.UpdateJob(ctx, j); err != nil {
				return err
			}
			if err := s.emitJob(ctx, tx, EventJobInterrupted, j, map[string]any{"engrave_state": "unknown", "parts_done": j.PartsDone}); err != nil {
				return err
			}
			out = append(out, *j)
			if j.MachineID == "" {
				continue
			}
			mc, err := tx.LockMachine(ctx, j.MachineID)
			if qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND {
				continue
			}
			if err != nil {
				return err
			}
			if err := s.pauseAfter(ctx, tx, &mc, pause, j.ID); err != nil {
				return err
			}
			machines = append(machines, mc)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		s.log.Warn("engraving job interrupted: its runner is gone", "job", out[i].ID, "items", out[i].UIDs(), "cause", code)
		s.publishJob(&out[i])
	}
	for _, m := range machines {
		s.log.Warn("machine paused until an operator resumes it", "machine", m.Name, "reason", m.PauseReason)
		s.publishMachine(s.status(m))
	}
	return out, nil
}

// pauseAfter pauses machine mc after job jobID ended with reason (which
// names the job), in its record and its history.
func (s *Service) pauseAfter(ctx context.Context, tx Tx, mc *Machine, reason, jobID string) error {
	mc.Paused, mc.PauseReason = true, reason+" (job "+jobID+")"
	if err := tx.UpdateMachine(ctx, mc); err != nil {
		return err
	}
	return s.machineEvent(ctx, tx, mc, MachineEvent{Kind: "paused", Detail: mc.PauseReason, JobID: jobID}, "", nil)
}

// dispatch gives queued jobs to idle machines.
func (s *Service) dispatch() {
	// A read first: an empty queue costs no write transaction.
	if q, err := s.store.ListJobs(s.ctx, JobFilter{Status: JobQueued, Limit: 1}); err != nil || len(q) == 0 {
		return
	}
	for _, rt := range s.connectedMachines() {
		if s.ctx.Err() != nil {
			return
		}
		// The pause lives in the database only, so a pause or a resume made
		// through any process holds here. It is read before the machine is
		// reserved: a paused machine costs no write transaction, and an
		// operator's home or unlock on it never finds it reserved by a claim
		// that could not take a job anyway.
		if m, err := s.store.GetMachine(s.ctx, rt.id); err != nil || m.Paused || m.HomeRequired {
			continue
		}
		rt.mu.Lock()
		conn := rt.conn
		ok := conn != nil && conn.Err() == nil && rt.state == MachineIdle && rt.hold == ""
		if ok {
			rt.state = MachineBusy // reserved while claiming
		}
		rt.mu.Unlock()
		if !ok {
			continue
		}
		job, m, err := s.claim(rt, conn)
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("claim engraving job", "machine", rt.id, "err", err)
		}
		rt.mu.Lock()
		if job == nil {
			rt.state = MachineIdle
			rt.mu.Unlock()
			continue
		}
		rt.state, rt.jobID, rt.stopReason = MachineRunning, job.ID, ""
		rt.mu.Unlock()
		s.wg.Add(1)
		go s.run(rt, conn, m, job)
	}
}

func (s *Service) claim(rt *machineRT, conn *grbl.Conn) (*Job, Machine, error) {
	if conn.NeedsHoming() || conn.Alarm() != nil || conn.LastStatus().State != "Idle" {
		return nil, Machine{}, nil //nolint:nilerr // an alarm means "no job for this machine now", not a dispatch failure
	}
	// The machine is read locked in the claiming transaction, so a pause
	// written since dispatch read it (an operator, or another dispatcher
	// finding this machine's last job interrupted) is seen before a job is
	// taken.
	var m Machine
	var job *Job
	err := s.store.Update(s.ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if m, err = tx.LockMachine(ctx, rt.id); err != nil || m.Paused || m.HomeRequired {
			return err
		}
		job, err = tx.ClaimJob(ctx, fitOf(m))
		return err
	})
	return job, m, err
}

// outcome is how a job run ended.
type outcome struct {
	status  JobStatus
	code    string
	text    string
	pause   string // pause the machine with this reason
	alarm   *grbl.AlarmError
	requeue bool // nothing was sent: the job goes back to the queue
}

// classify maps how a stream ended to the job's state. Only a refusal
// before the first line was written puts the job back in the queue; any
// other failure after the stream started may have burned something.
func classify(err error, stopReason string) outcome {
	var alarm *grbl.AlarmError
	var gerr *grbl.Error
	switch {
	case err == nil:
		return outcome{status: JobCompleted}
	case stopReason == "" && (errors.Is(err, grbl.ErrHomingRequired) || errors.Is(err, grbl.ErrAlarmState)):
		// Refused before the first line was written: nothing started.
		return outcome{requeue: true, text: qrmfg.ErrorMessage(err)}
	case errors.As(err, &alarm):
		return outcome{status: JobFailed, code: fmt.Sprintf("ALARM:%d", alarm.Code), text: alarm.Text, alarm: alarm,
			pause: fmt.Sprintf("ALARM:%d during the job", alarm.Code)}
	case errors.As(err, &gerr):
		return outcome{status: JobFailed, code: fmt.Sprintf("error:%d", gerr.Code), text: gerr.Text,
			pause: fmt.Sprintf("error:%d during the job", gerr.Code)}
	case stopReason == stopCancel:
		return outcome{status: JobCancelled, code: "cancelled", text: "cancelled while running; the part may be partly engraved",
			pause: "a job was cancelled while running"}
	case stopReason == stopShutdown:
		return outcome{status: JobInterrupted, code: "shutdown", text: "the server shut down during the job; the machine was stopped with the laser off",
			pause: "the server shut down during a job"}
	case errors.Is(err, grbl.ErrReset):
		return outcome{status: JobInterrupted, code: "reset", text: qrmfg.ErrorMessage(grbl.ErrReset), pause: "the controller reset during a job"}
	case errors.Is(err, grbl.ErrStalled):
		return outcome{status: JobInterrupted, code: "stalled", text: qrmfg.ErrorMessage(grbl.ErrStalled), pause: "the controller stopped answering during a job"}
	case errors.Is(err, grbl.ErrDisconnected):
		return outcome{status: JobInterrupted, code: "disconnected", text: qrmfg.ErrorMessage(grbl.ErrDisconnected), pause: "the link dropped during a job"}
	}
	return outcome{status: JobInterrupted, code: "error", text: qrmfg.ErrorMessage(err), pause: "a job stopped: " + qrmfg.ErrorMessage(err)}
}

// run streams job j on a machine and records how it ended.
func (s *Service) run(rt *machineRT, conn *grbl.Conn, m Machine, j *Job) {
	defer s.wg.Done()
	bg := context.WithoutCancel(s.ctx)
	log := s.log.With("job", j.ID, "machine", m.Name)
	live := m // as the controller reports its settings now
	live.Settings = settingsOf(conn.Settings())
	p, perr := plan(j, machineFor(&live))
	if perr == nil {
		perr = s.store.Update(bg, func(ctx context.Context, tx Tx) error {
			cur, err := tx.LockJob(ctx, j.ID)
			if err != nil {
				return err
			}
			cur.LinesTotal, cur.EstimateSeconds, cur.Footprint, cur.ModuleMM = j.LinesTotal, j.EstimateSeconds, j.Footprint, j.ModuleMM
			if err := tx.UpdateJob(ctx, &cur); err != nil {
				return err
			}
			*j = cur
			return s.emitJob(ctx, tx, EventJobStarted, &cur, map[string]any{"machine_name": m.Name, "estimate_seconds": cur.EstimateSeconds})
		})
	}
	if perr != nil {
		log.Error("cannot start the job", "err", perr)
		s.finish(bg, rt, conn, m, j, nil, outcome{status: JobFailed, code: "program", text: qrmfg.ErrorMessage(perr)}, 0, 0, 0)
		return
	}
	s.publishJob(j)
	var (
		motion0 time.Duration
		dry0    int
	)
	if rt.sim != nil {
		rt.sim.ClearImage() // a fresh workpiece
		st := rt.sim.Stats()
		motion0, dry0 = st.MotionTime, st.PlannerEmptied
	}
	start := time.Now()
	var acked, partsDone, sent atomic.Int64
	hbDone := make(chan struct{})
	hbStopped := make(chan struct{})
	go func() {
		defer close(hbStopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
			}
			var cancel bool
			err := s.store.Update(bg, func(ctx context.Context, tx Tx) error {
				var err error
				cancel, err = tx.Progress(ctx, j.ID, int(acked.Load()), int(partsDone.Load()))
				return err
			})
			switch {
			case qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND:
				// Another dispatcher declared this job lost: stop burning.
				log.Error("the job is no longer running in the database; stopping the machine")
				rt.stop(stopShutdown)
			case err != nil:
				log.Warn("record progress", "err", err)
			case cancel:
				rt.stop(stopCancel)
			}
		}
	}()
	snap := *j
	var lastPub time.Time
	err := conn.Err()
	if err != nil {
		// The link died between the claim and the start: nothing was sent.
		close(hbDone)
		<-hbStopped
		s.finish(bg, rt, conn, m, j, nil, outcome{requeue: true, text: qrmfg.ErrorMessage(err)}, 0, 0, 0)
		return
	}
	sctx, endStream := context.WithCancel(bg)
	defer endStream()
	rt.mu.Lock()
	rt.endStream = endStream
	early := rt.stopReason
	rt.mu.Unlock()
	if early != "" {
		// Stopped before the first line: nothing was burned.
		close(hbDone)
		<-hbStopped
		out := outcome{status: JobCancelled, code: "cancelled", text: "cancelled before it started"}
		if early == stopShutdown {
			out = outcome{requeue: true}
		}
		rt.mu.Lock()
		rt.stopReason, rt.endStream = "", nil
		rt.mu.Unlock()
		s.finish(bg, rt, conn, m, j, nil, out, 0, 0, 0)
		return
	}
	err = conn.Stream(sctx, p.Lines, func(pr grbl.Progress) {
		acked.Store(int64(pr.Acked))
		sent.Store(int64(pr.Sent))
		partsDone.Store(int64(p.PartsDone(pr.Acked)))
		if time.Since(lastPub) >= 200*time.Millisecond || pr.Done {
			lastPub = time.Now()
			snap.LinesAcked, snap.PartsDone = pr.Acked, p.PartsDone(pr.Acked)
			s.publishJob(&snap)
		}
	})
	close(hbDone)
	<-hbStopped
	actual := time.Since(start)
	if rt.sim != nil {
		// The simulator's motion clock, not the wall clock: the time the
		// machine would take. Stops for want of blocks beyond the one at
		// the end mean the host did not keep up (see
		// grblsim.Config.FullLookahead) and lengthen the measured time.
		st := rt.sim.Stats()
		actual = st.MotionTime - motion0
		if stops := st.PlannerEmptied - dry0 - 1; stops > 0 && err == nil {
			log.Warn("the simulated planner ran dry during the job: the host did not keep up and the actual time includes the extra stops",
				"stops", stops, "actual_seconds", actual.Seconds(), "estimate_seconds", j.EstimateSeconds)
		}
	}
	rt.mu.Lock()
	reason := rt.stopReason
	rt.endStream = nil
	rt.mu.Unlock()
	out := classify(err, reason)
	if err != nil {
		log.Warn("engraving job stopped", "status", out.status, "code", out.code, "err", err, "lines_sent", sent.Load(), "lines_acked", acked.Load())
	}
	var preview []byte
	if rt.sim != nil && !out.requeue {
		b := p.Bounds
		if png, perr := encodePNG(rt.sim.ImageRect(max(0, b.MinX), max(0, b.MinY), b.MaxX, b.MaxY)); perr == nil {
			preview = png
		}
	}
	s.finish(bg, rt, conn, m, j, preview, out, int(acked.Load()), int(partsDone.Load()), actual.Seconds())
}

// finish records the end of a run in one transaction: the job's state, its
// event (engraving.job.completed makes the items engraved), the burn image,
// and the machine's pause and history.
func (s *Service) finish(ctx context.Context, rt *machineRT, conn *grbl.Conn, m Machine, j *Job, preview []byte, out outcome, acked, parts int, actual float64) {
	connErr := conn.Err()
	var final Job
	var machine *Machine // as the transaction left it, when it locked it
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.LockJob(ctx, j.ID)
		if err != nil {
			return err
		}
		if cur.Status != JobRunning {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "job %s is %s already", j.ID, cur.Status)
		}
		cur.LinesAcked, cur.PartsDone = acked, parts
		now := tx.Now()
		if out.requeue {
			cur.Status, cur.StartedAt, cur.HeartbeatAt, cur.LinesAcked, cur.PartsDone = JobQueued, nil, nil, 0, 0
			if !cur.Pinned {
				cur.MachineID = ""
			}
			final = cur
			return tx.UpdateJob(ctx, &cur)
		}
		cur.Status, cur.FinishedAt, cur.ErrorCode, cur.ErrorText = out.status, &now, out.code, out.text
		if out.status == JobCompleted {
			cur.PartsDone = len(cur.Parts)
		}
		cur.ActualSeconds = &actual
		if err := tx.UpdateJob(ctx, &cur); err != nil {
			return err
		}
		if preview != nil {
			if err := tx.SavePreview(ctx, cur.ID, preview); err != nil {
				return err
			}
		}
		switch out.status {
		case JobCompleted:
			err = s.emitCompleted(ctx, tx, &cur, m.Name, "", "")
		case JobFailed:
			err = s.emitJob(ctx, tx, EventJobFailed, &cur, map[string]any{"engrave_state": "partial", "parts_done": cur.PartsDone})
		case JobCancelled:
			err = s.emitJob(ctx, tx, EventJobCancelled, &cur, map[string]any{"engrave_state": "partial", "parts_done": cur.PartsDone})
		default:
			err = s.emitJob(ctx, tx, EventJobInterrupted, &cur, map[string]any{"engrave_state": "unknown", "parts_done": cur.PartsDone})
		}
		if err != nil {
			return err
		}
		final = cur
		mc, err := tx.LockMachine(ctx, m.ID)
		if err != nil {
			return err
		}
		machine = &mc
		if out.alarm != nil {
			if err := s.machineEvent(ctx, tx, &mc, MachineEvent{Kind: "alarm", AlarmCode: out.alarm.Code, Detail: out.alarm.Text, JobID: cur.ID},
				EventMachineAlarm, map[string]any{"alarm_text": out.alarm.Text, "needs_homing": out.alarm.NeedsHoming}); err != nil {
				return err
			}
		}
		if connErr != nil {
			if err := s.machineEvent(ctx, tx, &mc, MachineEvent{Kind: "disconnected", Detail: qrmfg.ErrorMessage(connErr), JobID: cur.ID}, "", nil); err != nil {
				return err
			}
		}
		if (out.alarm != nil && out.alarm.NeedsHoming) || out.code == "reset" {
			mc.HomeRequired = true
		}
		if out.pause != "" {
			return s.pauseAfter(ctx, tx, &mc, out.pause, cur.ID)
		}
		return nil
	})
	if err != nil {
		s.log.Error("record the end of an engraving job", "job", j.ID, "machine", m.Name, "status", out.status, "err", err)
	}
	rt.mu.Lock()
	rt.jobID, rt.stopReason = "", ""
	if err != nil && out.pause != "" {
		// The pause is not stored: hold the machine here until an operator
		// resumes it (the job stays running in the database until it is
		// found lost or the server restarts, which pauses the machine there).
		rt.hold = out.pause + " (job " + j.ID + "; its end could not be recorded)"
	}
	if connErr != nil {
		if rt.conn == conn {
			rt.conn, rt.lastErr = nil, qrmfg.ErrorMessage(connErr)
		}
		rt.state = MachineDisconnected
		if rt.monitorEnd != nil {
			close(rt.monitorEnd)
			rt.monitorEnd = nil
		}
	} else {
		rt.state = MachineIdle
	}
	rt.mu.Unlock()
	if connErr != nil {
		_ = conn.Close()
	}
	if final.ID != "" {
		s.publishJob(&final)
	}
	if err == nil && machine != nil {
		s.publishMachine(s.status(*machine))
	} else if mm, err := s.store.GetMachine(ctx, m.ID); err == nil {
		s.publishMachine(s.status(mm))
	}
	s.Wake()
}
