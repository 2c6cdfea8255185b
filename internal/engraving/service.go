package engraving

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving/gcode"
	"github.com/qrmfg/qrmfg/internal/engraving/grbl"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Inventory is what the engraving service needs of the inventory:
// *inventory.Service implements it.
type Inventory interface {
	Get(ctx context.Context, uid string) (inventory.ItemDetail, error)
	List(ctx context.Context, f inventory.ItemFilter) (inventory.ItemPage, error)
	Transition(ctx context.Context, req inventory.TransitionRequest) (inventory.Item, error)
}

// Options configure the service.
type Options struct {
	// AllowedNetworks are the networks TCP machine addresses must be in
	// (QRMFG_MACHINE_NETWORKS); nil means loopback only.
	AllowedNetworks []netip.Prefix
	// Payload returns the QR data of an item when a job does not give
	// qr_code_data (the payload its batch was generated with); nil means
	// the item's uid.
	Payload func(ctx context.Context, uid string) (string, error)
	// Exclusive: this process is the only dispatcher (the embedded shape),
	// so at start every job left running was this process's and is
	// interrupted. Otherwise only jobs whose heartbeat is older than
	// HeartbeatTimeout are.
	Exclusive bool
	// HeartbeatTimeout: a running job whose runner has not written progress
	// for this long is interrupted by any dispatcher; default 30 s.
	HeartbeatTimeout time.Duration
	// DispatchInterval is how often the dispatcher looks at the queue
	// without being woken; default 1 s.
	DispatchInterval time.Duration
	// MaxBulk bounds the parts of a bulk request; default 10000.
	MaxBulk int
	// Conn tunes controller connections.
	Conn grbl.Options
	Log  *slog.Logger
}

// Service runs machines and jobs.
type Service struct {
	store Store
	inv   Inventory
	opt   Options
	log   *slog.Logger
	hub   *hub
	// dialer checks machine addresses against the allow-list; loopback is
	// the dialer of the in-process simulator.
	dialer, loopback *grbl.Dialer

	mu       sync.Mutex
	machines map[string]*machineRT // by id: the machines this process holds a link to
	started  bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	wake     chan struct{}
	previews *previewCache
}

// NewService returns the engraving service. Call Start to recover
// interrupted jobs, reconnect machines and run the dispatcher.
func NewService(store Store, inv Inventory, opt Options) *Service {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.HeartbeatTimeout <= 0 {
		opt.HeartbeatTimeout = 30 * time.Second
	}
	if opt.DispatchInterval <= 0 {
		opt.DispatchInterval = time.Second
	}
	if opt.MaxBulk <= 0 {
		opt.MaxBulk = 10_000
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{store: store, inv: inv, opt: opt, log: opt.Log, hub: newHub(),
		dialer: &grbl.Dialer{AllowedNetworks: opt.AllowedNetworks}, loopback: &grbl.Dialer{},
		machines: map[string]*machineRT{}, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1),
		previews: newPreviewCache(32)}
}

// Wake makes the dispatcher look at the queue now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// CreateRequest is POST /engraving/jobs: the seed's body, plus an optional
// machine and placement.
type CreateRequest struct {
	ItemUID    string        `json:"item_uid" doc:"The part to engrave; it must be in status generated"`
	QRCodeData string        `json:"qr_code_data,omitempty" doc:"Text of the code; default: the item's payload as generated"`
	Laser      LaserSettings `json:"laser_settings"`
	Priority   string        `json:"priority,omitempty" doc:"urgent, high, normal (default) or low"`
	MachineID  string        `json:"machine_id,omitempty" doc:"Run on this machine only; default: the first idle machine that fits"`
	Placement  *Placement    `json:"placement,omitempty"`
}

// EngraveLot names a lot.
type EngraveLot struct {
	ComponentType string `json:"component_type"`
	VendorCode    string `json:"vendor_code"`
	LotNumber     string `json:"lot_number"`
}

// BulkRequest is POST /engraving/jobs/bulk: items by uid or every generated
// item of a lot, one job per item or, with a tray, one job per tray load.
type BulkRequest struct {
	ItemUIDs  []string      `json:"item_uids,omitempty" doc:"Items to engrave; or give lot"`
	Lot       *EngraveLot   `json:"lot,omitempty" doc:"Engrave every generated item of the lot (without an active job)"`
	Laser     LaserSettings `json:"laser_settings"`
	Priority  string        `json:"priority,omitempty"`
	MachineID string        `json:"machine_id,omitempty"`
	Placement *Placement    `json:"placement,omitempty" doc:"Placement of each code, relative to its tray slot with a tray"`
	Tray      *Tray         `json:"tray,omitempty" doc:"Engrave cols×rows parts per program; each part is still tracked to its own item"`
}

type jobSpec struct {
	laser     LaserSettings
	priority  Priority
	machine   *Machine
	placement Placement
	tray      *Tray
}

func (s *Service) spec(ctx context.Context, laser LaserSettings, priority, machineID string, pl *Placement, tray *Tray) (jobSpec, error) {
	var sp jobSpec
	var err error
	if sp.priority, err = ParsePriority(priority); err != nil {
		return sp, err
	}
	if err := laser.Validate(); err != nil {
		return sp, err
	}
	sp.laser = laser
	if pl != nil {
		sp.placement = *pl
	}
	if err := sp.placement.validate(); err != nil {
		return sp, err
	}
	sp.placement = sp.placement.withDefaults()
	if tray != nil {
		t := *tray
		sp.tray = &t
	}
	if machineID != "" {
		// Another line's machine is unknown, like a missing one.
		m, err := s.getMachine(ctx, machineID)
		if qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND {
			return sp, qrmfg.FieldError("machine_id", "unknown machine %q", machineID)
		}
		if err != nil {
			return sp, err
		}
		sp.machine = &m
	}
	return sp, nil
}

// item checks that uid exists and can be engraved. The lookup runs as the
// caller: an item of a line it may not see is unknown, like a missing one.
func (s *Service) item(ctx context.Context, field, uid string) (inventory.Item, error) {
	if _, err := partid.Parse(uid); err != nil {
		return inventory.Item{}, qrmfg.FieldError(field, "%q is not a part id: %s", uid, qrmfg.ErrorMessage(err))
	}
	it, err := s.inv.Get(ctx, uid)
	if qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND {
		return inventory.Item{}, qrmfg.FieldError(field, "unknown item %s", uid)
	}
	if err != nil {
		return inventory.Item{}, err
	}
	if it.Status != inventory.StatusGenerated {
		return inventory.Item{}, qrmfg.Errorf(qrmfg.ECONFLICT, "item %s is %s; only generated items can be engraved", uid, it.Status).
			WithDetail("status", it.Status).WithDetail("item_uid", uid)
	}
	return it.Item, nil
}

func (s *Service) payload(ctx context.Context, uid string) (string, error) {
	if s.opt.Payload == nil {
		return uid, nil
	}
	p, err := s.opt.Payload(ctx, uid)
	if err != nil {
		return "", fmt.Errorf("payload of %s: %w", uid, err)
	}
	return p, nil
}

// checkData refuses QR data that names another part.
func checkData(field, uid, data string) error {
	if data == "" {
		return qrmfg.FieldError(field, "qr_code_data is empty")
	}
	if len(data) > 2000 {
		return qrmfg.FieldError(field, "qr_code_data has %d bytes; at most 2000", len(data))
	}
	if id, err := partid.Parse(data); err == nil && id.String() != uid {
		return qrmfg.FieldError(field, "qr_code_data is the part id %s, not the item's %s", id, uid)
	}
	return nil
}

// newJob builds a queued job for parts and plans it on the pinned machine
// or, failing that, on the machines registered. itemLines are the
// production lines of the parts' items, by uid.
func (s *Service) newJob(ctx context.Context, sp jobSpec, parts []Part, itemLines map[string]string) (*Job, error) {
	a := qrmfg.ActorFrom(ctx)
	line, err := jobLine(sp.machine, parts, itemLines)
	if err != nil {
		return nil, err
	}
	j := &Job{ID: qrmfg.NewID(), Status: JobQueued, Priority: sp.priority, Parts: parts, Laser: sp.laser,
		Placement: sp.placement, Tray: sp.tray, Attempt: 1, CreatedBy: a.ID, Line: line}
	if sp.tray != nil {
		if err := sp.tray.validate(len(parts)); err != nil {
			return nil, err
		}
		for i := range j.Parts {
			j.Parts[i].Slot = i
		}
	}
	if err := s.planFits(ctx, j, sp.machine); err != nil {
		return nil, err
	}
	j.ItemUID, j.QRCodeData = parts[0].ItemUID, parts[0].QRCodeData
	return j, nil
}

// planFits plans j and checks that a machine can take it.
func (s *Service) planFits(ctx context.Context, j *Job, pinned *Machine) error {
	if pinned != nil {
		j.MachineID, j.Pinned = pinned.ID, true
	}
	if _, err := plan(j, machineFor(pinned)); err != nil {
		return err
	}
	machines := []Machine{}
	if pinned != nil {
		machines = append(machines, *pinned)
	} else {
		all, err := s.store.ListMachines(ctx)
		if err != nil {
			return err
		}
		machines = all
	}
	if len(machines) == 0 {
		return nil // queued until a machine is registered
	}
	for _, m := range machines {
		if fitOf(m).Fits(j) {
			return nil
		}
	}
	what := "no registered machine fits the job"
	if pinned != nil {
		what = fmt.Sprintf("machine %s does not fit the job", pinned.Name)
	}
	return qrmfg.Errorf(qrmfg.EINVALID, "%s: it sweeps x %.1f..%.1f, y %.1f..%.1f mm and has %.3f mm modules (the spot must not be larger)",
		what, j.Footprint.MinX, j.Footprint.MaxX, j.Footprint.MinY, j.Footprint.MaxY, j.ModuleMM).WithDetail("footprint", j.Footprint)
}

func fitOf(m Machine) Fit {
	return Fit{MachineID: m.ID, Width: m.WorkArea.Width, Height: m.WorkArea.Height, SpotSize: m.SpotSize, Line: m.Line}
}

// insert writes jobs in one transaction after checking, in it, that none
// of their items has a queued or running job or an interrupted one not
// resolved yet. resolving is the interrupted job whose resolution (in hook)
// queues these jobs: it does not count.
func (s *Service) insert(ctx context.Context, jobs []*Job, resolving string, hook func(ctx context.Context, tx Tx) error) error {
	var uids []string
	for _, j := range jobs {
		uids = append(uids, j.UIDs()...)
	}
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		held, err := tx.BlockingJobs(ctx, uids)
		if err != nil {
			return err
		}
		if err := blocked(held, resolving); err != nil {
			return err
		}
		for _, j := range jobs {
			if err := tx.InsertJob(ctx, j); err != nil {
				return err
			}
			if err := s.emitJob(ctx, tx, EventJobQueued, j, nil); err != nil {
				return err
			}
		}
		if hook != nil {
			return hook(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		s.publishJob(j)
	}
	s.Wake()
	return nil
}

// blocked is the ECONFLICT for items held by a job other than resolving:
// an unresolved interrupted job first (its part may be half burned, so it
// is named with the way out), else a queued or running one; nil when none.
func blocked(held []ItemJob, resolving string) error {
	interrupted, active := map[string]string{}, map[string]string{}
	var ilist, alist []string
	for _, h := range held {
		switch {
		case h.JobID == resolving:
		case h.Status == JobInterrupted:
			interrupted[h.ItemUID] = h.JobID
			if len(ilist) < 10 {
				ilist = append(ilist, fmt.Sprintf("item %s (job %s: POST /engraving/jobs/%s/resolve)", h.ItemUID, h.JobID, h.JobID))
			}
		default:
			active[h.ItemUID] = h.JobID
			if len(alist) < 10 {
				alist = append(alist, h.ItemUID+" (job "+h.JobID+")")
			}
		}
	}
	switch {
	case len(interrupted) > 0:
		return qrmfg.Errorf(qrmfg.ECONFLICT, "%d item(s) have an interrupted job that is not resolved yet; "+
			"an operator must inspect the part and resolve the job first: %s", len(interrupted), strings.Join(ilist, ", ")).
			WithDetail("interrupted", interrupted)
	case len(active) > 0:
		return qrmfg.Errorf(qrmfg.ECONFLICT, "%d item(s) already have a queued or running job: %s", len(active), strings.Join(alist, ", ")).
			WithDetail("active", active)
	}
	return nil
}

// Create queues one job (POST /engraving/jobs).
func (s *Service) Create(ctx context.Context, req CreateRequest) (Job, error) {
	sp, err := s.spec(ctx, req.Laser, req.Priority, req.MachineID, req.Placement, nil)
	if err != nil {
		return Job{}, err
	}
	if req.ItemUID == "" {
		return Job{}, qrmfg.FieldError("item_uid", "item_uid is required")
	}
	it, err := s.item(ctx, "item_uid", req.ItemUID)
	if err != nil {
		return Job{}, err
	}
	data := req.QRCodeData
	if data == "" {
		if data, err = s.payload(ctx, req.ItemUID); err != nil {
			return Job{}, err
		}
	}
	if err := checkData("qr_code_data", req.ItemUID, data); err != nil {
		return Job{}, err
	}
	j, err := s.newJob(ctx, sp, []Part{{ItemUID: req.ItemUID, QRCodeData: data}}, map[string]string{it.UID: it.Line})
	if err != nil {
		return Job{}, err
	}
	if err := s.insert(ctx, []*Job{j}, "", nil); err != nil {
		return Job{}, err
	}
	return *j, nil
}

// CreateBulk queues jobs for many items in one transaction: all or none.
func (s *Service) CreateBulk(ctx context.Context, req BulkRequest) ([]Job, error) {
	sp, err := s.spec(ctx, req.Laser, req.Priority, req.MachineID, req.Placement, req.Tray)
	if err != nil {
		return nil, err
	}
	uids := req.ItemUIDs
	switch {
	case len(uids) > 0 && req.Lot != nil:
		return nil, qrmfg.FieldError("item_uids", "give item_uids or lot, not both")
	case req.Lot != nil:
		if uids, err = s.lotItems(ctx, *req.Lot); err != nil {
			return nil, err
		}
		if len(uids) == 0 {
			return nil, qrmfg.FieldError("lot", "lot %s-%s-%s has no generated item to engrave", req.Lot.ComponentType, req.Lot.VendorCode, req.Lot.LotNumber)
		}
	case len(uids) == 0:
		return nil, qrmfg.FieldError("item_uids", "give item_uids or lot")
	}
	if len(uids) > s.opt.MaxBulk {
		return nil, qrmfg.FieldError("item_uids", "%d items is over the limit of %d per request", len(uids), s.opt.MaxBulk)
	}
	seen := map[string]bool{}
	parts := make([]Part, 0, len(uids))
	lines := make(map[string]string, len(uids))
	for i, uid := range uids {
		field := fmt.Sprintf("item_uids[%d]", i)
		if seen[uid] {
			return nil, qrmfg.FieldError(field, "item %s is listed twice", uid)
		}
		seen[uid] = true
		it, err := s.item(ctx, field, uid)
		if err != nil {
			return nil, err
		}
		lines[uid] = it.Line
		data, err := s.payload(ctx, uid)
		if err != nil {
			return nil, err
		}
		parts = append(parts, Part{ItemUID: uid, QRCodeData: data})
	}
	per := 1
	if sp.tray != nil {
		per = sp.tray.Cols * sp.tray.Rows
	}
	var jobs []*Job
	for len(parts) > 0 {
		n := min(per, len(parts))
		j, err := s.newJob(ctx, sp, parts[:n:n], lines)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
		parts = parts[n:]
	}
	if err := s.insert(ctx, jobs, "", nil); err != nil {
		return nil, err
	}
	out := make([]Job, len(jobs))
	for i, j := range jobs {
		out[i] = *j
	}
	return out, nil
}

func (s *Service) lotItems(ctx context.Context, lot EngraveLot) ([]string, error) {
	if err := partid.ValidateLot(lot.ComponentType, lot.VendorCode, lot.LotNumber); err != nil {
		return nil, err
	}
	f := inventory.ItemFilter{ComponentType: lot.ComponentType, VendorCode: lot.VendorCode, LotNumber: lot.LotNumber,
		Statuses: []inventory.Status{inventory.StatusGenerated}, Sort: inventory.SortSerial, Limit: 1000}
	var uids []string
	for {
		page, err := s.inv.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			uids = append(uids, it.UID)
		}
		if page.NextCursor == "" || len(uids) > s.opt.MaxBulk {
			break
		}
		f.Cursor = page.NextCursor
	}
	if len(uids) > s.opt.MaxBulk {
		return nil, qrmfg.FieldError("lot", "the lot has more than %d generated items; engrave it in parts by item_uids", s.opt.MaxBulk)
	}
	// Items with a queued or running job are left out: the lot request
	// means "what is left to engrave". An item whose interrupted job is not
	// resolved stays in, so the request is refused naming that job: its part
	// may be half burned.
	var held []ItemJob
	if err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		held, err = tx.BlockingJobs(ctx, uids)
		return err
	}); err != nil {
		return nil, err
	}
	active := map[string]bool{}
	for _, h := range held {
		if h.Status != JobInterrupted {
			active[h.ItemUID] = true
		}
	}
	out := uids[:0]
	for _, u := range uids {
		if !active[u] {
			out = append(out, u)
		}
	}
	return out, nil
}

// Get returns a job.
func (s *Service) Get(ctx context.Context, id string) (Job, error) { return s.getJob(ctx, id) }

// List returns jobs, newest first: of the actor's lines (and of none) when
// it is restricted to lines.
func (s *Service) List(ctx context.Context, f JobFilter) ([]Job, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	if len(f.Line) > 64 {
		return nil, qrmfg.FieldError("line", "line must be at most 64 characters")
	}
	f.Lines = qrmfg.LineScope(ctx)
	return s.store.ListJobs(ctx, f)
}

// Cancel cancels a job: a queued job at once; a running one by a soft
// reset of its machine with the laser off (the job ends cancelled when the
// machine has stopped). Cancelling a finished job is ECONFLICT.
func (s *Service) Cancel(ctx context.Context, id string) (Job, error) {
	var out Job
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		j, err := tx.LockJob(ctx, id)
		if err == nil {
			err = checkJob(ctx, j)
		}
		if err != nil {
			return err
		}
		switch j.Status {
		case JobQueued:
			now := tx.Now()
			j.Status, j.FinishedAt = JobCancelled, &now
			j.ErrorText = "cancelled by " + orDash(qrmfg.ActorFrom(ctx).ID) + " before it started"
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
			if err := s.emitJob(ctx, tx, EventJobCancelled, &j, nil); err != nil {
				return err
			}
		case JobRunning:
			j.CancelRequested = true
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
		default:
			return qrmfg.Errorf(qrmfg.ECONFLICT, "job %s is %s and cannot be cancelled", id, j.Status).WithDetail("status", j.Status)
		}
		out = j
		return nil
	})
	if err != nil {
		return Job{}, err
	}
	if out.Status == JobRunning {
		rt := s.runnerOf(out.ID)
		if rt == nil {
			// Another process runs it: its heartbeat sees the request.
			return out, nil
		}
		rt.stop(stopCancel)
		// Wait a little for the machine to stop, so the answer is final.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if j, err := s.store.GetJob(ctx, id); err == nil && j.Status != JobRunning {
				return j, nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return s.store.GetJob(ctx, id)
	}
	s.publishJob(&out)
	return out, nil
}

// SetPriority moves a queued job up or down the queue: urgent before high
// before normal before low, first come first served within a priority.
// Only a queued job can be reprioritised (ECONFLICT otherwise).
func (s *Service) SetPriority(ctx context.Context, id, priority string) (Job, error) {
	if strings.TrimSpace(priority) == "" {
		return Job{}, qrmfg.FieldError("priority", "priority is required: urgent, high, normal or low")
	}
	p, err := ParsePriority(priority)
	if err != nil {
		return Job{}, err
	}
	var out Job
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		j, err := tx.LockJob(ctx, id)
		if err == nil {
			err = checkJob(ctx, j)
		}
		if err != nil {
			return err
		}
		if j.Status != JobQueued {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "job %s is %s: only a queued job's priority can change", id, j.Status).WithDetail("status", j.Status)
		}
		if j.Priority == p {
			out = j
			return nil
		}
		from := j.Priority
		j.Priority = p
		if err := tx.UpdateJob(ctx, &j); err != nil {
			return err
		}
		out = j
		return s.emitJob(ctx, tx, EventJobReprioritized, &j, map[string]any{"previous_priority": from})
	})
	if err != nil {
		return Job{}, err
	}
	s.publishJob(&out)
	return out, nil
}

// Retry queues a new attempt of a failed or cancelled job on the same
// parts, which must still be generated.
func (s *Service) Retry(ctx context.Context, id string) (Job, error) {
	old, err := s.getJob(ctx, id)
	if err != nil {
		return Job{}, err
	}
	if old.Status != JobFailed && old.Status != JobCancelled {
		hint := ""
		if old.Status == JobInterrupted {
			hint = "; an interrupted job is resolved with POST /engraving/jobs/" + id + "/resolve"
		}
		return Job{}, qrmfg.Errorf(qrmfg.ECONFLICT, "job %s is %s; only failed or cancelled jobs can be retried%s", id, old.Status, hint).
			WithDetail("status", old.Status)
	}
	if old.NextJobID != "" {
		return Job{}, qrmfg.Errorf(qrmfg.ECONFLICT, "job %s was already retried as job %s", id, old.NextJobID).WithDetail("next_job_id", old.NextJobID)
	}
	j, err := s.attempt(ctx, &old, old.Parts)
	if err != nil {
		return Job{}, err
	}
	err = s.insert(ctx, []*Job{j}, "", func(ctx context.Context, tx Tx) error {
		o, err := tx.LockJob(ctx, id)
		if err != nil {
			return err
		}
		if o.NextJobID != "" {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "job %s was already retried as job %s", id, o.NextJobID)
		}
		o.NextJobID = j.ID
		return tx.UpdateJob(ctx, &o)
	})
	if err != nil {
		return Job{}, err
	}
	return *j, nil
}

// attempt builds the next attempt of old on parts.
func (s *Service) attempt(ctx context.Context, old *Job, parts []Part) (*Job, error) {
	lines := make(map[string]string, len(parts))
	for i, p := range parts {
		it, err := s.item(ctx, fmt.Sprintf("parts[%d].item_uid", i), p.ItemUID)
		if err != nil {
			return nil, err
		}
		lines[p.ItemUID] = it.Line
	}
	sp := jobSpec{laser: old.Laser, priority: old.Priority, placement: old.Placement, tray: old.Tray}
	if old.Pinned {
		m, err := s.getMachine(ctx, old.MachineID)
		if err != nil {
			return nil, err
		}
		sp.machine = &m
	}
	j, err := s.newJob(ctx, sp, parts, lines)
	if err != nil {
		return nil, err
	}
	j.Attempt, j.RetryOf = old.Attempt+1, old.ID
	return j, nil
}

// ResolveRequest is an operator's decision on an interrupted job.
type ResolveRequest struct {
	// Action is reengrave or confirm_engraved.
	Action string `json:"action" enum:"reengrave,confirm_engraved" doc:"confirm_engraved: inspection shows the codes are complete, the job becomes completed and the items engraved. reengrave: engrave again, see new_item_uids and confirm_unburnt"`
	// NewItemUIDs are the generated items that replace the job's parts (in
	// order) when re-engraving on new parts; the old items are voided.
	NewItemUIDs []string `json:"new_item_uids,omitempty" doc:"reengrave on new parts: one generated item per part of the job, in order; the old items become void"`
	// ConfirmUnburnt re-engraves the same parts: the operator confirms that
	// nothing was burned on them.
	ConfirmUnburnt bool   `json:"confirm_unburnt,omitempty" doc:"reengrave on the same parts: the operator confirms by inspection that nothing was burned"`
	Note           string `json:"note,omitempty" doc:"What the operator saw"`
}

// Resolve applies an operator's decision to an interrupted job. It returns
// the job and, when re-engraving, the new job.
func (s *Service) Resolve(ctx context.Context, id string, req ResolveRequest) (Job, *Job, error) {
	old, err := s.getJob(ctx, id)
	if err != nil {
		return Job{}, nil, err
	}
	if old.Status != JobInterrupted {
		return Job{}, nil, qrmfg.Errorf(qrmfg.ECONFLICT, "job %s is %s; only interrupted jobs are resolved", id, old.Status).WithDetail("status", old.Status)
	}
	if old.Resolution != "" {
		return Job{}, nil, qrmfg.Errorf(qrmfg.ECONFLICT, "job %s was already resolved (%s by %s)", id, old.Resolution, orDash(old.ResolvedBy))
	}
	if len(req.Note) > 1000 {
		return Job{}, nil, qrmfg.FieldError("note", "note has %d characters; at most 1000", len(req.Note))
	}
	actor := qrmfg.ActorFrom(ctx).ID
	resolve := func(ctx context.Context, tx Tx, j *Job, resolution string) error {
		now := tx.Now()
		j.Resolution, j.ResolutionNote, j.ResolvedBy, j.ResolvedAt = resolution, req.Note, actor, &now
		return nil
	}
	switch req.Action {
	case ResolveConfirmEngraved:
		if len(req.NewItemUIDs) > 0 || req.ConfirmUnburnt {
			return Job{}, nil, qrmfg.FieldError("action", "confirm_engraved takes no new_item_uids nor confirm_unburnt")
		}
		var out Job
		err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			j, err := tx.LockJob(ctx, id)
			if err != nil {
				return err
			}
			if j.Status != JobInterrupted || j.Resolution != "" {
				return qrmfg.Errorf(qrmfg.ECONFLICT, "job %s was resolved meanwhile", id)
			}
			if err := resolve(ctx, tx, &j, ResolveConfirmEngraved); err != nil {
				return err
			}
			j.Status = JobCompleted
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
			if err := s.emitCompleted(ctx, tx, &j, "", actor, req.Note); err != nil {
				return err
			}
			out = j
			return s.emitJob(ctx, tx, EventJobResolved, &j, map[string]any{"resolution": ResolveConfirmEngraved, "note": req.Note})
		})
		if err != nil {
			return Job{}, nil, err
		}
		s.publishJob(&out)
		return out, nil, nil
	case ResolveReengrave:
	default:
		return Job{}, nil, qrmfg.FieldError("action", "unknown action %q; expected reengrave or confirm_engraved", req.Action)
	}
	parts := make([]Part, len(old.Parts))
	copy(parts, old.Parts)
	var voids []string
	switch {
	case req.ConfirmUnburnt && len(req.NewItemUIDs) > 0:
		return Job{}, nil, qrmfg.FieldError("new_item_uids", "give new_item_uids (new parts) or confirm_unburnt (same parts), not both")
	case req.ConfirmUnburnt:
	case len(req.NewItemUIDs) != len(old.Parts):
		return Job{}, nil, qrmfg.FieldError("new_item_uids", "re-engraving job %s on new parts needs %d new item(s), one per part, got %d; "+
			"or set confirm_unburnt to engrave the same parts when inspection shows nothing was burned", id, len(old.Parts), len(req.NewItemUIDs))
	default:
		seen := map[string]bool{}
		for _, p := range old.Parts {
			seen[p.ItemUID] = true
		}
		for i, uid := range req.NewItemUIDs {
			field := fmt.Sprintf("new_item_uids[%d]", i)
			if seen[uid] {
				return Job{}, nil, qrmfg.FieldError(field, "item %s is a part of job %s or listed twice; name a new part", uid, id)
			}
			seen[uid] = true
			if _, err := s.item(ctx, field, uid); err != nil {
				return Job{}, nil, err
			}
			data, err := s.payload(ctx, uid)
			if err != nil {
				return Job{}, nil, err
			}
			voids = append(voids, old.Parts[i].ItemUID)
			parts[i] = Part{ItemUID: uid, QRCodeData: data, Slot: old.Parts[i].Slot}
		}
	}
	next, err := s.attempt(ctx, &old, parts)
	if err != nil {
		return Job{}, nil, err
	}
	if len(voids) == 0 {
		next.Attempt = old.Attempt + 1
	} else {
		next.Attempt = 1
	}
	// Void the old ids first: an id that may be half burned on a part is
	// never reused. A retry of the resolve finds them void already.
	for _, uid := range voids {
		_, err := s.inv.Transition(ctx, inventory.TransitionRequest{UID: uid, To: inventory.StatusVoid,
			Reason: fmt.Sprintf("engraving job %s was interrupted (%s); the part is re-engraved as a new item on job %s", id, old.ErrorCode, next.ID)})
		if err != nil {
			if it, gerr := s.inv.Get(ctx, uid); gerr == nil && it.Status == inventory.StatusVoid {
				continue
			}
			return Job{}, nil, fmt.Errorf("void %s: %w", uid, err)
		}
	}
	var out Job
	err = s.insert(ctx, []*Job{next}, id, func(ctx context.Context, tx Tx) error {
		j, err := tx.LockJob(ctx, id)
		if err != nil {
			return err
		}
		if j.Status != JobInterrupted || j.Resolution != "" {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "job %s was resolved meanwhile", id)
		}
		if err := resolve(ctx, tx, &j, ResolveReengrave); err != nil {
			return err
		}
		j.NextJobID = next.ID
		if err := tx.UpdateJob(ctx, &j); err != nil {
			return err
		}
		out = j
		return s.emitJob(ctx, tx, EventJobResolved, &j, map[string]any{"resolution": ResolveReengrave, "note": req.Note,
			"voided": voids, "next_job_id": next.ID, "same_parts": len(voids) == 0})
	})
	if err != nil {
		return Job{}, nil, err
	}
	s.publishJob(&out)
	return out, next, nil
}

// emitJob writes a job event; extra fields join the standard ones.
func (s *Service) emitJob(ctx context.Context, tx Tx, typ string, j *Job, extra map[string]any) error {
	data := map[string]any{"job_id": j.ID, "status": j.Status, "item_uids": j.UIDs(), "priority": j.Priority,
		"machine_id": j.MachineID, "attempt": j.Attempt}
	if j.ErrorCode != "" {
		data["error_code"], data["error_text"] = j.ErrorCode, j.ErrorText
	}
	for k, v := range extra {
		data[k] = v
	}
	ev, err := qrmfg.NewEvent(ctx, EventSource, typ, j.ID, data)
	if err != nil {
		return err
	}
	ev.ID = qrmfg.NewID()
	return tx.Emit(ctx, ev)
}

// emitCompleted writes engraving.job.completed, which makes the items engraved.
func (s *Service) emitCompleted(ctx context.Context, tx Tx, j *Job, machineName, confirmedBy, note string) error {
	d := CompletedData{JobID: j.ID, ItemUIDs: j.UIDs(), MachineID: j.MachineID, MachineName: machineName,
		Estimate: j.EstimateSeconds, ConfirmedBy: confirmedBy, ConfirmedNote: note}
	if j.StartedAt != nil {
		d.StartedAt = *j.StartedAt
	}
	if j.FinishedAt != nil {
		d.FinishedAt = *j.FinishedAt
	}
	if j.ActualSeconds != nil {
		d.Actual = *j.ActualSeconds
	}
	ev, err := qrmfg.NewEvent(ctx, EventSource, EventJobCompleted, j.ID, d)
	if err != nil {
		return err
	}
	ev.ID = qrmfg.NewID()
	return tx.Emit(ctx, ev)
}

// Follow streams updates of a job ("job") or a machine ("machine") until
// stop is called.
func (s *Service) Follow(kind, id string) (<-chan Update, func()) {
	return s.hub.subscribe(kind + ":" + id)
}

func (s *Service) publishJob(j *Job) {
	c := *j
	s.hub.publish("job:"+j.ID, Update{Kind: "job", Job: &c})
}

func (s *Service) publishMachine(st MachineStatus) {
	s.hub.publish("machine:"+st.ID, Update{Kind: "machine", Machine: &st})
}

// Gcode returns the program of a job, as it runs on its machine (or on the
// simulated machine's settings while no machine is known).
func (s *Service) Gcode(ctx context.Context, id string) ([]string, error) {
	p, _, err := s.Program(ctx, id)
	if err != nil {
		return nil, err
	}
	return p.Lines, nil
}

// Program returns a job's program and the machine it is made for (see
// Gcode), with its line kinds for estimates.
func (s *Service) Program(ctx context.Context, id string) (*gcode.Program, gcode.Machine, error) {
	j, err := s.getJob(ctx, id)
	if err != nil {
		return nil, gcode.Machine{}, err
	}
	mc, err := s.machineOfJob(ctx, &j)
	if err != nil {
		return nil, gcode.Machine{}, err
	}
	p, err := program(&j, mc)
	if err != nil {
		return nil, gcode.Machine{}, err
	}
	return p, mc, nil
}

// machineOfJob is what the generator needs of j's machine, or of the
// simulated machine while j has none.
func (s *Service) machineOfJob(ctx context.Context, j *Job) (gcode.Machine, error) {
	m, err := s.jobMachine(ctx, j)
	if err != nil {
		return gcode.Machine{}, err
	}
	return machineFor(m), nil
}

// jobMachine returns j's machine, nil while it has none.
func (s *Service) jobMachine(ctx context.Context, j *Job) (*Machine, error) {
	if j.MachineID == "" {
		return nil, nil
	}
	m, err := s.store.GetMachine(ctx, j.MachineID)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
