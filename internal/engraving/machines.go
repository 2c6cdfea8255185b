package engraving

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving/gcode"
	"github.com/qrmfg/qrmfg/internal/engraving/grbl"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Reasons a running stream is stopped.
const (
	stopCancel   = "cancel"
	stopShutdown = "shutdown"
)

// machineRT is the live side of a machine this process holds a link to.
type machineRT struct {
	id  string
	sim *grblsim.Sim // the in-process simulator, if it is one

	mu         sync.Mutex
	conn       *grbl.Conn
	state      MachineState
	jobID      string
	stopReason string
	// endStream ends the running stream's context, after the machine was
	// halted (or could not be).
	endStream func()
	lastErr   string
	// hold keeps the dispatcher off the machine when a run that should
	// pause it could not record the pause; Resume clears it. Every other
	// pause lives in the database only, so it holds for every process.
	hold       string
	monitorEnd chan struct{}
}

// stop ends the running job's stream: a feed hold, a soft reset and the
// laser off. The runner sees the reason.
func (rt *machineRT) stop(reason string) {
	rt.mu.Lock()
	conn, running, end := rt.conn, rt.state == MachineRunning, rt.endStream
	if running && rt.stopReason == "" {
		rt.stopReason = reason
	}
	rt.mu.Unlock()
	if running && conn != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = conn.Cancel(ctx)
			if end != nil {
				end() // the stream stops sending even if the halt failed
			}
		}()
	}
}

func (s *Service) runtime(id string) *machineRT {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.machines[id]
}

func (s *Service) runnerOf(jobID string) *machineRT {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rt := range s.machines {
		rt.mu.Lock()
		match := rt.jobID == jobID && rt.state == MachineRunning
		rt.mu.Unlock()
		if match {
			return rt
		}
	}
	return nil
}

// RegisterRequest is POST /engraving/machines.
type RegisterRequest struct {
	Name      string   `json:"name" doc:"Unique name, letters, digits, '.', '_' and '-'"`
	Address   string   `json:"address" doc:"tcp://host:port or serial:///dev/ttyUSB0?baud=115200; TCP hosts must be in QRMFG_MACHINE_NETWORKS"`
	WorkArea  WorkArea `json:"work_area,omitempty" doc:"Usable travel; omitted or zero takes the controller's $130/$131 at connect"`
	LaserType string   `json:"laser_type,omitempty" doc:"diode (default), fibre or co2"`
	SpotSize  float64  `json:"spot_size_mm,omitempty" doc:"Beam spot diameter in mm; default 0.1. A job's modules must not be smaller"`
	HasZ      bool     `json:"has_z,omitempty" doc:"The machine has a usable Z axis: a job's depth is cut as a Z step down per pass (otherwise depth is ignored)"`
	Line      string   `json:"line,omitempty" maxLength:"64" doc:"Production line of the machine; a caller restricted to lines must name one of them (default: its only line)"`
}

var machineName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkAddress validates a machine address and, for TCP, the allow-list.
func (s *Service) checkAddress(ctx context.Context, d *grbl.Dialer, addr string) error {
	a, err := grbl.ParseAddress(addr)
	if err != nil {
		return qrmfg.FieldError("address", "%s", qrmfg.ErrorMessage(err))
	}
	if a.Network != "tcp" {
		return nil
	}
	if _, err := d.CheckTCP(ctx, a.Host); err != nil {
		if qrmfg.ErrorCode(err) == qrmfg.EFORBIDDEN {
			nets := make([]string, len(s.opt.AllowedNetworks))
			for i, p := range s.opt.AllowedNetworks {
				nets[i] = p.String()
			}
			if len(nets) == 0 {
				nets = []string{"loopback only"}
			}
			return &qrmfg.Error{Code: qrmfg.EINVALID, Field: "address", Err: err,
				Message: fmt.Sprintf("%s is outside the machine networks (QRMFG_MACHINE_NETWORKS: %s)", a.Host, strings.Join(nets, ", "))}
		}
		return &qrmfg.Error{Code: qrmfg.EINVALID, Field: "address", Err: err, Message: "address " + addr + ": " + qrmfg.ErrorMessage(err)}
	}
	return nil
}

// Register adds a machine. It is not connected yet: see Connect.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (MachineStatus, error) {
	return s.register(ctx, req, s.dialer, nil)
}

func (s *Service) register(ctx context.Context, req RegisterRequest, d *grbl.Dialer, sim *grblsim.Sim) (MachineStatus, error) {
	if !machineName.MatchString(req.Name) {
		return MachineStatus{}, qrmfg.FieldError("name", "machine name %q: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", req.Name)
	}
	if err := s.checkAddress(ctx, d, req.Address); err != nil {
		return MachineStatus{}, err
	}
	lt, err := ParseLaserType(req.LaserType)
	if err != nil {
		return MachineStatus{}, err
	}
	if req.WorkArea.Width < 0 || req.WorkArea.Height < 0 || req.WorkArea.Width > gcode.MaxCoordinate || req.WorkArea.Height > gcode.MaxCoordinate {
		return MachineStatus{}, qrmfg.FieldError("work_area", "width_mm and height_mm must be between 0 and %g", gcode.MaxCoordinate)
	}
	spot := req.SpotSize
	if spot == 0 {
		spot = 0.1
	}
	if !(spot > 0 && spot <= 5) {
		return MachineStatus{}, qrmfg.FieldError("spot_size_mm", "spot_size_mm must be above 0 and at most 5 mm, got %g", req.SpotSize)
	}
	line, err := qrmfg.NewObjectLine(ctx, req.Line, "register a machine on")
	if err != nil {
		return MachineStatus{}, err
	}
	m := Machine{ID: qrmfg.NewID(), Name: req.Name, Address: req.Address, WorkArea: req.WorkArea, LaserType: lt, SpotSize: spot,
		HasZ: req.HasZ, Simulated: sim != nil, Line: line}
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertMachine(ctx, &m); err != nil {
			return err
		}
		return s.machineEvent(ctx, tx, &m, MachineEvent{Kind: "registered", Detail: m.Address}, EventMachineAdded, nil)
	})
	if err != nil {
		return MachineStatus{}, err
	}
	return s.status(m), nil
}

// RegisterSimulator registers (or, when the name exists, re-addresses) an
// in-process simulated machine at addr and connects it. Its burn image
// becomes the preview of the jobs it runs. The caller runs and closes sim.
func (s *Service) RegisterSimulator(ctx context.Context, name, addr string, sim *grblsim.Sim) (MachineStatus, error) {
	m, err := s.store.MachineByName(ctx, name)
	if err == nil && checkMachine(ctx, m) != nil {
		// Another line's machine: the name is taken, as for any registration.
		return MachineStatus{}, &qrmfg.Error{Code: qrmfg.ECONFLICT, Field: "name", Message: fmt.Sprintf("a machine named %q is already registered", name)}
	}
	switch {
	case err == nil:
		err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			cur, err := tx.LockMachine(ctx, m.ID)
			if err != nil {
				return err
			}
			cur.Address, cur.Simulated = addr, true
			m = cur
			return tx.UpdateMachine(ctx, &cur)
		})
		if err != nil {
			return MachineStatus{}, err
		}
	case qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND:
		st, err := s.register(ctx, RegisterRequest{Name: name, Address: addr, LaserType: string(LaserDiode), SpotSize: 0.1}, s.loopback, sim)
		if err != nil {
			return MachineStatus{}, err
		}
		m = st.Machine
	default:
		return MachineStatus{}, err
	}
	s.mu.Lock()
	rt := s.machines[m.ID]
	if rt == nil {
		rt = &machineRT{id: m.ID, state: MachineDisconnected}
		s.machines[m.ID] = rt
	}
	rt.sim = sim
	s.mu.Unlock()
	return s.Connect(ctx, m.ID)
}

// Machines lists every machine the actor may see with its live state.
func (s *Service) Machines(ctx context.Context) ([]MachineStatus, error) {
	ms, err := s.store.ListMachines(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MachineStatus, 0, len(ms))
	for _, m := range ms {
		// Machines are few: the line restriction filters here, not in SQL.
		if checkMachine(ctx, m) == nil {
			out = append(out, s.status(m))
		}
	}
	return out, nil
}

// Machine returns one machine with its live state.
func (s *Service) Machine(ctx context.Context, id string) (MachineStatus, error) {
	m, err := s.getMachine(ctx, id)
	if err != nil {
		return MachineStatus{}, err
	}
	return s.status(m), nil
}

// MachineHistory returns a machine's events, newest first.
func (s *Service) MachineHistory(ctx context.Context, id string, limit int) ([]MachineEvent, error) {
	if _, err := s.getMachine(ctx, id); err != nil {
		return nil, err
	}
	return s.store.MachineEvents(ctx, id, limit)
}

// status joins a stored machine with what this process knows live.
func (s *Service) status(m Machine) MachineStatus {
	st := MachineStatus{Machine: m, State: MachineDisconnected, NeedsHoming: m.HomeRequired}
	rt := s.runtime(m.ID)
	if rt == nil {
		return st
	}
	rt.mu.Lock()
	conn := rt.conn
	st.State, st.JobID, st.LastError = rt.state, rt.jobID, rt.lastErr
	if rt.hold != "" && !st.Paused {
		st.Paused, st.PauseReason = true, rt.hold
	}
	rt.mu.Unlock()
	if conn == nil {
		return st
	}
	if err := conn.Err(); err != nil {
		st.State, st.LastError = MachineDisconnected, qrmfg.ErrorMessage(err)
		return st
	}
	st.Connected = true
	ls := conn.LastStatus()
	st.GRBL = ls.State
	if ls.SubState >= 0 && (ls.State == "Hold" || ls.State == "Door") {
		st.GRBL += ":" + strconv.Itoa(ls.SubState)
	}
	st.Position, st.Feed, st.LaserOn = ls.WPos, ls.Feed, ls.LaserOn()
	st.NeedsHoming = conn.NeedsHoming() || m.HomeRequired
	if a := conn.Alarm(); a != nil {
		st.AlarmCode, st.AlarmText = a.Code, a.Text
	}
	if st.State == MachineIdle {
		switch {
		case st.AlarmCode != 0 || ls.State == "Alarm":
			st.State = MachineAlarm
		case ls.State != "" && ls.State != "Idle":
			st.State = MachineBusy
		}
	}
	return st
}

// Connect opens the link to a machine, reads its settings and makes it
// available to the dispatcher. Connecting a connected machine is a no-op.
// Nothing is sent to the controller but the handshake: a job interrupted
// on this machine stays interrupted.
func (s *Service) Connect(ctx context.Context, id string) (MachineStatus, error) {
	m, err := s.getMachine(ctx, id)
	if err != nil {
		return MachineStatus{}, err
	}
	s.mu.Lock()
	rt := s.machines[id]
	if rt == nil {
		rt = &machineRT{id: id, state: MachineDisconnected}
		s.machines[id] = rt
	}
	s.mu.Unlock()
	rt.mu.Lock()
	if rt.conn != nil && rt.conn.Err() == nil {
		rt.mu.Unlock()
		return s.status(m), nil
	}
	if rt.state == MachineConnecting {
		rt.mu.Unlock()
		return MachineStatus{}, qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s is connecting", m.Name)
	}
	rt.state = MachineConnecting
	d := s.dialer
	if rt.sim != nil {
		d = s.loopback
	}
	rt.mu.Unlock()
	opts := s.opt.Conn
	if opts.Logger == nil {
		opts.Logger = s.log.With("machine", m.Name)
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	conn, err := d.Dial(dctx, m.Address, opts)
	cancel()
	if err != nil {
		rt.mu.Lock()
		rt.state, rt.lastErr = MachineDisconnected, qrmfg.ErrorMessage(err)
		rt.mu.Unlock()
		return MachineStatus{}, fmt.Errorf("connect machine %s at %s: %w", m.Name, m.Address, err)
	}
	set := conn.Settings()
	info := conn.Info()
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.LockMachine(ctx, id)
		if err != nil {
			return err
		}
		cur.Settings = settingsOf(set)
		cur.Info = map[string]string{"version": info.Version, "id": info.ID, "options": info.Options,
			"rx_buffer": strconv.Itoa(info.RXBufferSize), "planner_blocks": strconv.Itoa(info.PlannerBlocks)}
		if cur.WorkArea.Width == 0 {
			cur.WorkArea.Width = set.MaxTravel[0]
		}
		if cur.WorkArea.Height == 0 {
			cur.WorkArea.Height = set.MaxTravel[1]
		}
		cur.AutoConnect = true
		if err := tx.UpdateMachine(ctx, &cur); err != nil {
			return err
		}
		m = cur
		return s.machineEvent(ctx, tx, &cur, MachineEvent{Kind: "connected", Detail: "GRBL " + info.Version}, "", nil)
	})
	if err != nil {
		_ = conn.Close()
		rt.mu.Lock()
		rt.state, rt.lastErr = MachineDisconnected, qrmfg.ErrorMessage(err)
		rt.mu.Unlock()
		return MachineStatus{}, err
	}
	rt.mu.Lock()
	rt.conn, rt.state, rt.lastErr = conn, MachineIdle, ""
	end := make(chan struct{})
	rt.monitorEnd = end
	rt.mu.Unlock()
	s.wg.Add(1)
	go s.monitor(rt, conn, end)
	s.Wake()
	st := s.status(m)
	s.publishMachine(st)
	return st, nil
}

// monitor publishes a machine's status while it is connected and notices
// a link lost between jobs.
func (s *Service) monitor(rt *machineRT, conn *grbl.Conn, end chan struct{}) {
	defer s.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last MachineStatus
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-end:
			return
		case <-t.C:
		}
		m, err := s.store.GetMachine(s.ctx, rt.id)
		if err != nil {
			continue
		}
		st := s.status(m)
		if st.State != last.State || st.GRBL != last.GRBL || st.Position != last.Position || st.AlarmCode != last.AlarmCode || st.Paused != last.Paused {
			s.publishMachine(st)
			last = st
		}
		if cerr := conn.Err(); cerr != nil {
			rt.mu.Lock()
			idle := rt.conn == conn && rt.state != MachineRunning
			if idle {
				rt.conn, rt.state, rt.lastErr = nil, MachineDisconnected, qrmfg.ErrorMessage(cerr)
			}
			rt.mu.Unlock()
			if idle {
				_ = conn.Close()
				_ = s.store.Update(s.ctx, func(ctx context.Context, tx Tx) error {
					return s.machineEvent(ctx, tx, &m, MachineEvent{Kind: "disconnected", Detail: qrmfg.ErrorMessage(cerr)}, "", nil)
				})
				s.publishMachine(s.status(m))
				return
			}
		}
	}
}

// Disconnect closes the link to a machine. A machine running a job is
// ECONFLICT: cancel the job first.
func (s *Service) Disconnect(ctx context.Context, id string) (MachineStatus, error) {
	m, err := s.getMachine(ctx, id)
	if err != nil {
		return MachineStatus{}, err
	}
	if rt := s.runtime(id); rt != nil {
		if err := rt.detach(m.Name); err != nil {
			return MachineStatus{}, err
		}
	}
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.LockMachine(ctx, id)
		if err != nil {
			return err
		}
		cur.AutoConnect = false
		if err := tx.UpdateMachine(ctx, &cur); err != nil {
			return err
		}
		m = cur
		return s.machineEvent(ctx, tx, &cur, MachineEvent{Kind: "disconnected", Detail: "by operator"}, "", nil)
	})
	if err != nil {
		return MachineStatus{}, err
	}
	st := s.status(m)
	s.publishMachine(st)
	return st, nil
}

// idleConn returns a connected machine's link when no job runs on it, and
// marks the machine busy until release is called.
func (s *Service) idleConn(ctx context.Context, id string) (Machine, *grbl.Conn, func(), error) {
	m, err := s.getMachine(ctx, id)
	if err != nil {
		return m, nil, nil, err
	}
	rt := s.runtime(id)
	if rt == nil {
		return m, nil, nil, qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s is not connected; connect it first", m.Name)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	switch {
	case rt.conn == nil || rt.conn.Err() != nil:
		return m, nil, nil, qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s is not connected; connect it first", m.Name)
	case rt.state == MachineRunning:
		return m, nil, nil, qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s is running job %s", m.Name, rt.jobID)
	case rt.state != MachineIdle:
		return m, nil, nil, qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s is %s", m.Name, rt.state)
	}
	rt.state = MachineBusy
	return m, rt.conn, func() {
		rt.mu.Lock()
		if rt.state == MachineBusy {
			rt.state = MachineIdle
		}
		rt.mu.Unlock()
		s.Wake()
	}, nil
}

// Home runs the homing cycle ($H); it clears any alarm and a lost position.
//
// After an alarm the link is opened again first: the controller may still
// answer lines that were in its buffer when the alarm came, and a fresh link
// starts with its answers in step (it also resets the controller, which
// keeps it in alarm until homed).
func (s *Service) Home(ctx context.Context, id string) (MachineStatus, error) {
	m, conn, release, err := s.idleConn(ctx, id)
	if err != nil {
		return MachineStatus{}, err
	}
	alarm := conn.Alarm()
	if alarm != nil || conn.NeedsHoming() {
		release()
		if err := s.reconnect(ctx, id); err != nil {
			return MachineStatus{}, err
		}
		if m, conn, release, err = s.idleConn(ctx, id); err != nil {
			return MachineStatus{}, err
		}
	}
	defer release()
	if err := conn.Home(ctx); err != nil {
		return MachineStatus{}, fmt.Errorf("home machine %s: %w", m.Name, err)
	}
	ev := MachineEvent{Kind: "homed"}
	if alarm != nil {
		ev.AlarmCode, ev.Detail = alarm.Code, alarm.Text
	}
	if err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.LockMachine(ctx, id)
		if err != nil {
			return err
		}
		if cur.HomeRequired {
			cur.HomeRequired = false
			if err := tx.UpdateMachine(ctx, &cur); err != nil {
				return err
			}
		}
		m = cur
		return s.machineEvent(ctx, tx, &m, ev, EventMachineHomed, nil)
	}); err != nil {
		return MachineStatus{}, err
	}
	return s.status(m), nil
}

// reconnect closes a machine's link and opens it again.
func (s *Service) reconnect(ctx context.Context, id string) error {
	rt := s.runtime(id)
	if rt == nil {
		return qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s is not connected", id)
	}
	if err := rt.detach(id); err != nil {
		return err
	}
	_, err := s.Connect(ctx, id)
	return err
}

// detach stops the machine's status monitor and closes its link; a machine
// running a job is ECONFLICT (cancel the job first). name is for the message.
func (rt *machineRT) detach(name string) error {
	rt.mu.Lock()
	if rt.state == MachineRunning {
		job := rt.jobID
		rt.mu.Unlock()
		return qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s is running job %s; cancel the job first", name, job)
	}
	conn, end := rt.conn, rt.monitorEnd
	rt.conn, rt.state, rt.monitorEnd = nil, MachineDisconnected, nil
	rt.mu.Unlock()
	if end != nil {
		close(end)
	}
	if conn != nil {
		_ = conn.Close()
	}
	return nil
}

// Unlock clears an alarm with $X, recording who unlocked which alarm in
// the machine's history and in engraving.machine.unlocked. An alarm that
// lost the position (ALARM:1, 3, 6-9, or a reset during a job) needs Home
// instead: ECONFLICT.
func (s *Service) Unlock(ctx context.Context, id string) (MachineStatus, error) {
	m, conn, release, err := s.idleConn(ctx, id)
	if err != nil {
		return MachineStatus{}, err
	}
	defer release()
	alarm := conn.Alarm()
	if conn.NeedsHoming() || m.HomeRequired {
		what := "its position is lost"
		if alarm != nil {
			what = fmt.Sprintf("ALARM:%d (%s) lost its position", alarm.Code, alarm.Text)
		}
		return MachineStatus{}, qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s cannot be unlocked: %s; home it (POST /engraving/machines/%s/home)", m.Name, what, id)
	}
	if err := conn.Unlock(ctx); err != nil {
		if errors.Is(err, grbl.ErrHomingRequired) {
			return MachineStatus{}, qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s must be homed, not unlocked (POST /engraving/machines/%s/home)", m.Name, id)
		}
		return MachineStatus{}, fmt.Errorf("unlock machine %s: %w", m.Name, err)
	}
	ev := MachineEvent{Kind: "unlocked", Detail: "no alarm"}
	data := map[string]any{"alarm_code": 0, "alarm_text": ""}
	if alarm != nil {
		ev.AlarmCode, ev.Detail = alarm.Code, alarm.Text
		data["alarm_code"], data["alarm_text"] = alarm.Code, alarm.Text
	}
	if err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		return s.machineEvent(ctx, tx, &m, ev, EventMachineUnlocked, data)
	}); err != nil {
		return MachineStatus{}, err
	}
	return s.status(m), nil
}

// Resume lets the dispatcher give jobs to a paused machine again: the
// operator has cleared the fixture after a failed, cancelled or
// interrupted job.
func (s *Service) Resume(ctx context.Context, id string) (MachineStatus, error) {
	var m Machine
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.LockMachine(ctx, id)
		if err == nil {
			err = checkMachine(ctx, cur)
		}
		if err != nil {
			return err
		}
		if cur.HomeRequired {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "machine %s lost its position (%s); home it first (POST /engraving/machines/%s/home)", cur.Name, cur.PauseReason, id)
		}
		was := cur.PauseReason
		cur.Paused, cur.PauseReason = false, ""
		if err := tx.UpdateMachine(ctx, &cur); err != nil {
			return err
		}
		m = cur
		return s.machineEvent(ctx, tx, &cur, MachineEvent{Kind: "resumed", Detail: was}, EventMachineResumed, nil)
	})
	if err != nil {
		return MachineStatus{}, err
	}
	if rt := s.runtime(id); rt != nil {
		rt.mu.Lock()
		rt.hold = ""
		rt.mu.Unlock()
	}
	s.Wake()
	return s.status(m), nil
}

// Pause stops the dispatcher from giving jobs to a machine until Resume;
// a running job continues.
func (s *Service) Pause(ctx context.Context, id, reason string) (MachineStatus, error) {
	if reason == "" {
		reason = "paused by operator"
	}
	if len(reason) > 500 {
		return MachineStatus{}, qrmfg.FieldError("reason", "reason has %d characters; at most 500", len(reason))
	}
	var m Machine
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.LockMachine(ctx, id)
		if err == nil {
			err = checkMachine(ctx, cur)
		}
		if err != nil {
			return err
		}
		cur.Paused, cur.PauseReason = true, reason
		if err := tx.UpdateMachine(ctx, &cur); err != nil {
			return err
		}
		m = cur
		return s.machineEvent(ctx, tx, &cur, MachineEvent{Kind: "paused", Detail: reason}, "", nil)
	})
	if err != nil {
		return MachineStatus{}, err
	}
	return s.status(m), nil
}

// FrameRequest is a test frame: the outline of a job's codes, or of a
// placement, traced with the laser off.
type FrameRequest struct {
	JobID     string     `json:"job_id,omitempty" doc:"Trace this job's footprint; or give a placement"`
	Placement *Placement `json:"placement,omitempty"`
	Speed     float64    `json:"speed,omitempty" doc:"Feed of the frame, mm/min; default 3000"`
}

// Frame traces the outline of the codes of a job (or of one code at a
// placement) with the laser off, so the operator can check the part sits
// where it will be burned. It returns when the machine has finished.
func (s *Service) Frame(ctx context.Context, id string, req FrameRequest) (MachineStatus, error) {
	speed := req.Speed
	if speed == 0 {
		speed = 3000
	}
	if !(speed > 0 && speed <= MaxSpeed) {
		return MachineStatus{}, qrmfg.FieldError("speed", "speed must be above 0 and at most %g mm/min", MaxSpeed)
	}
	j := Job{Parts: []Part{{ItemUID: "FRAME", QRCodeData: "PAD-V0100-L2025-09-00001"}}, Laser: LaserSettings{Power: 1, Speed: speed, Passes: 1}}
	if req.JobID != "" {
		var err error
		if j, err = s.getJob(ctx, req.JobID); err != nil {
			return MachineStatus{}, err
		}
		j.Laser.Speed = speed
	} else {
		pl := Placement{}
		if req.Placement != nil {
			pl = *req.Placement
		}
		if err := pl.validate(); err != nil {
			return MachineStatus{}, err
		}
		j.Placement = pl.withDefaults()
	}
	m, conn, release, err := s.idleConn(ctx, id)
	if err != nil {
		return MachineStatus{}, err
	}
	defer release()
	p, err := frameProgram(&j, machineFor(&m))
	if err != nil {
		return MachineStatus{}, err
	}
	if p.Bounds.MaxX > m.WorkArea.Width || p.Bounds.MaxY > m.WorkArea.Height || p.Bounds.MinX < 0 || p.Bounds.MinY < 0 {
		return MachineStatus{}, qrmfg.Errorf(qrmfg.EINVALID, "the frame (x %.1f..%.1f, y %.1f..%.1f mm) leaves machine %s's work area", p.Bounds.MinX, p.Bounds.MaxX, p.Bounds.MinY, p.Bounds.MaxY, m.Name)
	}
	if err := conn.Stream(ctx, p.Lines, nil); err != nil {
		return MachineStatus{}, fmt.Errorf("frame on machine %s: %w", m.Name, err)
	}
	_ = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		return s.machineEvent(ctx, tx, &m, MachineEvent{Kind: "frame", JobID: req.JobID,
			Detail: fmt.Sprintf("x %.1f..%.1f y %.1f..%.1f mm", p.Bounds.MinX, p.Bounds.MaxX, p.Bounds.MinY, p.Bounds.MaxY)}, "", nil)
	})
	return s.status(m), nil
}

// machineEvent appends to a machine's history and, when typ is set,
// writes the event to the outbox with the same data.
func (s *Service) machineEvent(ctx context.Context, tx Tx, m *Machine, e MachineEvent, typ string, extra map[string]any) error {
	e.MachineID, e.At, e.Actor = m.ID, tx.Now(), qrmfg.ActorFrom(ctx).ID
	if typ != "" {
		data := map[string]any{"machine_id": m.ID, "machine_name": m.Name, "kind": e.Kind, "actor": e.Actor,
			"at": e.At, "detail": e.Detail, "job_id": e.JobID, "alarm_code": e.AlarmCode}
		for k, v := range extra {
			data[k] = v
		}
		ev, err := qrmfg.NewEvent(ctx, EventSource, typ, m.ID, data)
		if err != nil {
			return err
		}
		ev.ID = qrmfg.NewID()
		e.EventID = ev.ID
		if err := tx.Emit(ctx, ev); err != nil {
			return err
		}
	}
	return tx.AddMachineEvent(ctx, e)
}

// connectedMachines returns the runtimes sorted by id.
func (s *Service) connectedMachines() []*machineRT {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*machineRT, 0, len(s.machines))
	for _, rt := range s.machines {
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b *machineRT) int { return strings.Compare(a.id, b.id) })
	return out
}
