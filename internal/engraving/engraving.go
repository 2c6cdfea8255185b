// Package engraving runs the laser engravers: the machines (registration,
// connection, live status, homing, unlock, test frame), the job queue with
// priorities, the dispatcher that gives queued jobs to idle machines that fit,
// and the progress of running jobs.
//
// Engraving is a physical, non-idempotent side effect. A job that may have
// started and lost its machine (disconnect, controller reset, stalled status,
// server crash) becomes interrupted and is never run again on its own: an
// operator resolves it. A part becomes engraved only through the
// engraving.job.completed event, written in the same transaction as the job's
// completion and consumed idempotently by the inventory.
//
// The G-code comes from package gcode, the controller link from package grbl
// and the simulated machine from package grblsim.
package engraving

import (
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving/gcode"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// EventSource is the CloudEvents source of engraving events.
const EventSource = "/qrmfg/engraving"

// Event types published by the engraving service.
const (
	EventJobQueued        = "engraving.job.queued"
	EventJobStarted       = "engraving.job.started"
	EventJobCompleted     = "engraving.job.completed"
	EventJobFailed        = "engraving.job.failed"
	EventJobCancelled     = "engraving.job.cancelled"
	EventJobInterrupted   = "engraving.job.interrupted"
	EventJobResolved      = "engraving.job.resolved"
	EventJobReprioritized = "engraving.job.reprioritized"
	EventMachineAdded     = "engraving.machine.registered"
	EventMachineUnlocked  = "engraving.machine.unlocked"
	EventMachineHomed     = "engraving.machine.homed"
	EventMachineAlarm     = "engraving.machine.alarm"
	EventMachineResumed   = "engraving.machine.resumed"
)

// JobStatus is the state of a job.
type JobStatus string

// Job states. Completed, failed, cancelled and interrupted are final for the
// job; a failed or cancelled job can be retried (a new attempt), an
// interrupted one must be resolved by an operator.
const (
	JobQueued      JobStatus = "queued"
	JobRunning     JobStatus = "running"
	JobCompleted   JobStatus = "completed"
	JobFailed      JobStatus = "failed"
	JobCancelled   JobStatus = "cancelled"
	JobInterrupted JobStatus = "interrupted"
)

// JobStatuses lists every job state.
func JobStatuses() []JobStatus {
	return []JobStatus{JobQueued, JobRunning, JobCompleted, JobFailed, JobCancelled, JobInterrupted}
}

// ParseJobStatus validates a job state name.
func ParseJobStatus(s string) (JobStatus, error) {
	for _, st := range JobStatuses() {
		if string(st) == s {
			return st, nil
		}
	}
	return "", qrmfg.FieldError("status", "unknown job status %q; expected one of queued, running, completed, failed, cancelled, interrupted", s)
}

// Final reports whether no machine will work on the job any more.
func (s JobStatus) Final() bool { return s != JobQueued && s != JobRunning }

// Priority orders the queue: urgent before high before normal before low,
// first in first out within one priority.
type Priority string

// Priorities.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Rank is the priority's order in the queue: higher runs first.
func (p Priority) Rank() int {
	switch p {
	case PriorityUrgent:
		return 3
	case PriorityHigh:
		return 2
	case PriorityNormal:
		return 1
	}
	return 0
}

// ParsePriority validates a priority; "" means normal.
func ParsePriority(s string) (Priority, error) {
	switch p := Priority(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return PriorityNormal, nil
	case PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent:
		return p, nil
	}
	return "", qrmfg.FieldError("priority", "unknown priority %q; expected one of urgent, high, normal, low", s)
}

// Limits of the laser settings.
const (
	MaxSpeed = 100_000.0 // mm/min
)

// LaserSettings are the seed's burn settings of a job.
type LaserSettings struct {
	// Power in percent of the machine's maximum ($30), 0 < power ≤ 100.
	Power float64 `json:"power" doc:"Laser power in percent of the machine's maximum, 0 < power ≤ 100"`
	// Speed is the feed while burning in mm/min.
	Speed float64 `json:"speed" doc:"Feed while burning, mm/min"`
	// Passes is how many times each code is burned.
	Passes int `json:"passes" doc:"How many times each code is burned, 1..100"`
	// Depth is the total target depth in mm (a Z step per pass on machines with Z).
	Depth float64 `json:"depth" doc:"Target depth in mm; a Z step per pass where the machine has Z, otherwise ignored"`
}

// Validate checks the settings and names the field at fault.
func (l LaserSettings) Validate() error {
	switch {
	case !(l.Power > 0 && l.Power <= 100):
		return qrmfg.FieldError("laser_settings.power", "power must be above 0 and at most 100 (percent), got %g", l.Power)
	case !(l.Speed > 0 && l.Speed <= MaxSpeed):
		return qrmfg.FieldError("laser_settings.speed", "speed must be above 0 and at most %g mm/min, got %g", MaxSpeed, l.Speed)
	case l.Passes < 1 || l.Passes > gcode.MaxPasses:
		return qrmfg.FieldError("laser_settings.passes", "passes must be between 1 and %d, got %d", gcode.MaxPasses, l.Passes)
	case !(l.Depth >= 0 && l.Depth <= gcode.MaxDepth):
		return qrmfg.FieldError("laser_settings.depth", "depth must be between 0 and %g mm, got %g", gcode.MaxDepth, l.Depth)
	}
	return nil
}

// Placement puts a code on the machine. The zero value takes the defaults:
// lower-left corner of the footprint at 5, 5 mm, 0.5 mm modules, a quiet
// zone of 4 modules, no rotation.
type Placement struct {
	X         float64 `json:"x_mm" doc:"Lower-left corner of the code's footprint (quiet zone included), mm"`
	Y         float64 `json:"y_mm" doc:"Lower-left corner of the code's footprint (quiet zone included), mm"`
	Size      float64 `json:"size_mm,omitempty" doc:"Side of the symbol without quiet zone, mm; exclusive with module_mm"`
	Module    float64 `json:"module_mm,omitempty" doc:"Side of one module, mm; default 0.5 when size_mm is not given"`
	Rotation  int     `json:"rotation,omitempty" doc:"Clockwise rotation: 0, 90, 180 or 270" enum:"0,90,180,270"`
	QuietZone int     `json:"quiet_zone,omitempty" doc:"Unburned margin around the symbol in modules; 0 means 4"`
}

// Default placement values.
const (
	DefaultX, DefaultY = 5.0, 5.0
	DefaultModule      = 0.5
	DefaultQuietZone   = 4
)

func (p Placement) withDefaults() Placement {
	if p.X == 0 && p.Y == 0 {
		p.X, p.Y = DefaultX, DefaultY
	}
	if p.Size == 0 && p.Module == 0 {
		p.Module = DefaultModule
	}
	if p.QuietZone == 0 {
		p.QuietZone = DefaultQuietZone
	}
	return p
}

func (p Placement) validate() error {
	switch {
	case p.X < 0 || p.Y < 0 || p.X > gcode.MaxCoordinate || p.Y > gcode.MaxCoordinate:
		return qrmfg.FieldError("placement", "x_mm and y_mm must be between 0 and %g, got %g, %g", gcode.MaxCoordinate, p.X, p.Y)
	case p.Size != 0 && p.Module != 0:
		return qrmfg.FieldError("placement", "give size_mm or module_mm, not both")
	case p.Size < 0 || p.Module < 0:
		return qrmfg.FieldError("placement", "size_mm and module_mm must be positive")
	case p.Rotation != 0 && p.Rotation != 90 && p.Rotation != 180 && p.Rotation != 270:
		return qrmfg.FieldError("placement.rotation", "rotation must be 0, 90, 180 or 270, got %d", p.Rotation)
	case p.QuietZone < 0 || p.QuietZone > 20:
		return qrmfg.FieldError("placement.quiet_zone", "quiet_zone must be between 0 and 20 modules, got %d", p.QuietZone)
	}
	return nil
}

func (p Placement) gcode() gcode.Placement {
	return gcode.Placement{X: p.X, Y: p.Y, Rotation: p.Rotation, Size: p.Size, Module: p.Module, QuietZone: p.QuietZone}
}

// Origin is a point on the machine in mm.
type Origin struct {
	X float64 `json:"x_mm"`
	Y float64 `json:"y_mm"`
}

// Tray is a grid of fixtures engraved in one program: slot i is column
// i%cols, row i/cols; a code's placement is relative to its slot's origin.
type Tray struct {
	Cols   int     `json:"cols" doc:"Columns of fixtures"`
	Rows   int     `json:"rows" doc:"Rows of fixtures"`
	PitchX float64 `json:"pitch_x_mm" doc:"Distance between columns, mm"`
	PitchY float64 `json:"pitch_y_mm" doc:"Distance between rows, mm"`
	Origin Origin  `json:"origin" doc:"Origin of slot (0,0), mm"`
}

func (t Tray) validate(parts int) error {
	switch {
	case t.Cols < 1 || t.Rows < 1 || t.Cols*t.Rows > 10_000:
		return qrmfg.FieldError("tray", "cols and rows must be at least 1 (and at most 10000 slots), got %d×%d", t.Cols, t.Rows)
	case t.Cols*t.Rows < parts:
		return qrmfg.FieldError("tray", "a %d×%d tray has %d slots for %d parts", t.Cols, t.Rows, t.Cols*t.Rows, parts)
	case t.PitchX <= 0 && t.Cols > 1, t.PitchY <= 0 && t.Rows > 1:
		return qrmfg.FieldError("tray", "pitch_x_mm and pitch_y_mm must be positive")
	case t.Origin.X < 0 || t.Origin.Y < 0:
		return qrmfg.FieldError("tray.origin", "the origin must not be negative")
	}
	return nil
}

func (t Tray) gcode() gcode.Tray {
	return gcode.Tray{Cols: t.Cols, Rows: t.Rows, PitchX: t.PitchX, PitchY: t.PitchY, X: t.Origin.X, Y: t.Origin.Y}
}

// Part is one code of a job and the item it marks.
type Part struct {
	ItemUID    string `json:"item_uid"`
	QRCodeData string `json:"qr_code_data"`
	// Slot is the tray slot (0 for a single code).
	Slot int `json:"slot"`
}

// Footprint is the area a job sweeps on the machine, overscan included.
type Footprint struct {
	MinX float64 `json:"min_x_mm"`
	MinY float64 `json:"min_y_mm"`
	MaxX float64 `json:"max_x_mm"`
	MaxY float64 `json:"max_y_mm"`
}

// Resolution actions for an interrupted job.
const (
	ResolveReengrave       = "reengrave"
	ResolveConfirmEngraved = "confirm_engraved"
)

// Job is one engraving: one code, or several codes on a tray in one program.
type Job struct {
	ID       string    `json:"id"`
	Status   JobStatus `json:"status"`
	Priority Priority  `json:"priority"`
	// ItemUID and QRCodeData are the first part's, as in the seed's body.
	ItemUID    string        `json:"item_uid"`
	QRCodeData string        `json:"qr_code_data"`
	Parts      []Part        `json:"parts"`
	Laser      LaserSettings `json:"laser_settings"`
	Placement  Placement     `json:"placement"`
	Tray       *Tray         `json:"tray,omitempty"`
	// Footprint is what the job needs of a machine's work area; ModuleMM
	// the module size a machine's spot must not exceed.
	Footprint Footprint `json:"footprint"`
	ModuleMM  float64   `json:"module_mm"`
	// Line is the production line of the job: its pinned machine's line,
	// or else its items' (empty: none). It does not change.
	Line string `json:"line,omitempty"`
	// MachineID is the machine the job was pinned to or ran on.
	MachineID string `json:"machine_id,omitempty"`
	Pinned    bool   `json:"pinned"`
	// Attempt counts the tries of the same parts; RetryOf is the previous attempt.
	Attempt int    `json:"attempt"`
	RetryOf string `json:"retry_of,omitempty"`
	// Progress: lines of the program acknowledged by the controller
	// (planned, not necessarily burned) and parts whose lines all were.
	LinesTotal int `json:"lines_total"`
	LinesAcked int `json:"lines_acked"`
	PartsDone  int `json:"parts_done"`
	// EstimateSeconds is the predicted machine time; ActualSeconds the
	// measured one (the simulator's motion clock on a simulated machine).
	EstimateSeconds float64  `json:"estimate_seconds"`
	ActualSeconds   *float64 `json:"actual_seconds,omitempty"`
	// ErrorCode is ALARM:N or error:N for a failed job, or the cause of an
	// interruption (disconnected, stalled, reset, shutdown); ErrorText explains it.
	ErrorCode       string `json:"error_code,omitempty"`
	ErrorText       string `json:"error_text,omitempty"`
	CancelRequested bool   `json:"cancel_requested,omitempty"`
	// Resolution of an interrupted job.
	Resolution     string     `json:"resolution,omitempty"`
	ResolutionNote string     `json:"resolution_note,omitempty"`
	ResolvedBy     string     `json:"resolved_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	NextJobID      string     `json:"next_job_id,omitempty"`
	CreatedBy      string     `json:"created_by,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	HeartbeatAt    *time.Time `json:"-"`
	// Seq orders the queue (FIFO within a priority); set by the store.
	Seq int64 `json:"-"`
}

// ItemJob is a job that holds an item: see Tx.BlockingJobs.
type ItemJob struct {
	ItemUID string
	JobID   string
	Status  JobStatus
}

// UIDs returns the item uids of the job's parts.
func (j *Job) UIDs() []string {
	out := make([]string, len(j.Parts))
	for i, p := range j.Parts {
		out[i] = p.ItemUID
	}
	return out
}

// JobFilter selects jobs; zero fields do not filter.
type JobFilter struct {
	Status    JobStatus
	MachineID string
	ItemUID   string
	Line      string   // jobs of this production line
	Lines     []string // restriction: only jobs of these lines (or of none); set from the actor
	Limit     int
	// BeforeSeq pages backwards: jobs with a smaller Seq (newest first).
	BeforeSeq int64
}

// LaserType is the source of a machine.
type LaserType string

// Laser types.
const (
	LaserDiode LaserType = "diode"
	LaserFibre LaserType = "fibre"
	LaserCO2   LaserType = "co2"
)

// ParseLaserType validates a laser type; "" means diode.
func ParseLaserType(s string) (LaserType, error) {
	switch t := LaserType(strings.ToLower(strings.TrimSpace(s))); t {
	case "":
		return LaserDiode, nil
	case "fiber":
		return LaserFibre, nil
	case LaserDiode, LaserFibre, LaserCO2:
		return t, nil
	}
	return "", qrmfg.FieldError("laser_type", "unknown laser type %q; expected diode, fibre or co2", s)
}

// WorkArea is a machine's usable travel in mm.
type WorkArea struct {
	Width  float64 `json:"width_mm"`
	Height float64 `json:"height_mm"`
}

// Machine is a registered engraver. Its live state is in MachineStatus.
type Machine struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Address   string    `json:"address"`
	WorkArea  WorkArea  `json:"work_area"`
	LaserType LaserType `json:"laser_type"`
	SpotSize  float64   `json:"spot_size_mm"`
	// HasZ: the machine has a usable Z axis, so a job's depth is cut as a
	// Z step down per pass (set at registration).
	HasZ bool `json:"has_z"`
	// Line is the production line of the machine (empty: none), set at
	// registration.
	Line string `json:"line,omitempty"`
	// Settings are the controller's $$ values read at the last connect
	// ("$30": 1000, …) and Info its $I build info.
	Settings map[string]float64 `json:"settings,omitempty"`
	Info     map[string]string  `json:"info,omitempty"`
	// Simulated is set for the in-process simulator.
	Simulated bool `json:"simulated"`
	// AutoConnect: the machine was connected when the server stopped and is
	// connected again at start.
	AutoConnect bool `json:"auto_connect"`
	// Paused machines get no jobs until an operator resumes them (set after
	// a job failed, was interrupted or cancelled while running: the fixture
	// holds a part that needs looking at).
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pause_reason,omitempty"`
	// HomeRequired: an alarm or a controller reset during a job lost the
	// machine's position; it takes no job, and cannot be unlocked or
	// resumed, until it has been homed. Unlike the driver's own flag it
	// survives a reconnection and a restart.
	HomeRequired bool      `json:"home_required"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// MachineState is the live state of a machine as the dispatcher sees it.
type MachineState string

// Machine states.
const (
	MachineDisconnected MachineState = "disconnected"
	MachineConnecting   MachineState = "connecting"
	MachineIdle         MachineState = "idle"
	MachineRunning      MachineState = "running"
	MachineAlarm        MachineState = "alarm"
	MachineBusy         MachineState = "busy" // homing, framing, hold, door
)

// MachineStatus is a machine with its live state.
type MachineStatus struct {
	Machine
	State MachineState `json:"state"`
	// GRBL is the controller's last status report state (Idle, Run, Hold:0, Alarm, Door:1…).
	GRBL        string     `json:"grbl_state,omitempty"`
	Position    [3]float64 `json:"position,omitempty"`
	Feed        float64    `json:"feed,omitempty"`
	LaserOn     bool       `json:"laser_on"`
	AlarmCode   int        `json:"alarm_code,omitempty"`
	AlarmText   string     `json:"alarm_text,omitempty"`
	NeedsHoming bool       `json:"needs_homing"`
	JobID       string     `json:"job_id,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	// Connected reports whether this process holds the machine's link.
	Connected bool `json:"connected"`
}

// MachineEvent is one entry of a machine's history: connect, disconnect,
// alarm, unlock, home, resume, frame.
type MachineEvent struct {
	ID        int64     `json:"id"`
	MachineID string    `json:"machine_id"`
	Kind      string    `json:"kind"`
	AlarmCode int       `json:"alarm_code,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	JobID     string    `json:"job_id,omitempty"`
	EventID   string    `json:"event_id,omitempty"`
	At        time.Time `json:"at"`
}

// Fit is what a claim asks of a job: the machine's work area and spot, and
// its production line (a machine on a line engraves only that line's jobs
// and those of no line; a machine of no line takes any).
type Fit struct {
	MachineID string
	Width     float64
	Height    float64
	SpotSize  float64
	Line      string
}

// Fits reports whether job j can run on a machine with f.
func (f Fit) Fits(j *Job) bool {
	return (!j.Pinned || j.MachineID == f.MachineID) && (f.Line == "" || j.Line == "" || j.Line == f.Line) &&
		j.Footprint.MaxX <= f.Width && j.Footprint.MaxY <= f.Height &&
		j.Footprint.MinX >= 0 && j.Footprint.MinY >= 0 && f.SpotSize <= j.ModuleMM
}

// CompletedData is the data of engraving.job.completed: the inventory moves
// every item in ItemUIDs to engraved.
type CompletedData struct {
	JobID         string    `json:"job_id"`
	ItemUIDs      []string  `json:"item_uids"`
	MachineID     string    `json:"machine_id"`
	MachineName   string    `json:"machine_name"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
	Estimate      float64   `json:"estimate_seconds"`
	Actual        float64   `json:"actual_seconds"`
	ConfirmedBy   string    `json:"confirmed_by,omitempty"`
	ConfirmedNote string    `json:"confirmed_note,omitempty"`
}

// DefaultSimTimeScale is how much faster than real time the embedded
// simulated laser runs: the seed's job (about 2 min of machine time) takes
// a few seconds.
const DefaultSimTimeScale = 20
