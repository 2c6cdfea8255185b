package engraving

import (
	"context"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Store is the storage the engraving service needs. Reads run outside a
// transaction; every change runs inside Update, whose Tx writes events to the
// outbox in the same transaction.
type Store interface {
	// GetJob returns ENOTFOUND when no job has the id.
	GetJob(ctx context.Context, id string) (Job, error)
	// ListJobs returns jobs matching f, newest first.
	ListJobs(ctx context.Context, f JobFilter) ([]Job, error)
	// GetMachine returns ENOTFOUND when no machine has the id.
	GetMachine(ctx context.Context, id string) (Machine, error)
	// MachineByName returns ENOTFOUND when no machine has the name.
	MachineByName(ctx context.Context, name string) (Machine, error)
	// ListMachines returns every machine by name.
	ListMachines(ctx context.Context) ([]Machine, error)
	// MachineEvents returns a machine's history, newest first.
	MachineEvents(ctx context.Context, machineID string, limit int) ([]MachineEvent, error)
	// Preview returns the burn image (PNG) stored for a job; ENOTFOUND when none.
	Preview(ctx context.Context, jobID string) ([]byte, error)
	// Update runs fn in one transaction.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// Tx is a write transaction. Every row it writes carries Now().
type Tx interface {
	Now() time.Time
	// InsertJob writes a new job with its parts and sets j.Seq.
	InsertJob(ctx context.Context, j *Job) error
	// LockJob reads a job for update; ENOTFOUND when absent.
	LockJob(ctx context.Context, id string) (Job, error)
	// UpdateJob writes every mutable field of j.
	UpdateJob(ctx context.Context, j *Job) error
	// BlockingJobs returns the jobs that keep uids from getting a new job:
	// queued, running, or interrupted and not resolved yet, one entry per
	// item and job, by item then job. On PostgreSQL it first takes a
	// transaction lock per item, so two transactions checking the same item
	// run one after the other (SQLite's single writer already serialises).
	BlockingJobs(ctx context.Context, uids []string) ([]ItemJob, error)
	// ClaimJob takes the first queued job that fits f in priority then FIFO
	// order, marks it running on f.MachineID and returns it; nil when none
	// fits. Concurrent claimers never take the same job (FOR UPDATE SKIP
	// LOCKED on PostgreSQL; SQLite's single writer serialises them).
	ClaimJob(ctx context.Context, f Fit) (*Job, error)
	// Progress records a running job's progress and heartbeat and reports
	// whether a cancel was requested; ENOTFOUND when the job is not running.
	Progress(ctx context.Context, id string, linesAcked, partsDone int) (cancelRequested bool, err error)
	// StaleRunning returns, locked, the running jobs whose last heartbeat is
	// older than before: their runner crashed or lost the database.
	StaleRunning(ctx context.Context, before time.Time) ([]Job, error)
	// InsertMachine writes a new machine; ECONFLICT when the name is taken.
	InsertMachine(ctx context.Context, m *Machine) error
	// LockMachine reads a machine for update; ENOTFOUND when absent.
	LockMachine(ctx context.Context, id string) (Machine, error)
	// UpdateMachine writes every mutable field of m.
	UpdateMachine(ctx context.Context, m *Machine) error
	// AddMachineEvent appends to a machine's history.
	AddMachineEvent(ctx context.Context, e MachineEvent) error
	// SavePreview stores a job's burn image (PNG), replacing an older one.
	SavePreview(ctx context.Context, jobID string, png []byte) error
	// Emit writes an event to the outbox; it is published after commit.
	Emit(ctx context.Context, ev qrmfg.Event) error
}
