package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// EngravingStore is the engraving service's storage: machines, their
// history, the job queue and burn images.
type EngravingStore struct{ db *DB }

var _ engraving.Store = (*EngravingStore)(nil)

// Engraving returns the engraving store on db.
func (db *DB) Engraving() *EngravingStore { return &EngravingStore{db: db} }

const jobColumns = `seq, id, status, priority, parts, laser, placement, tray, min_x, min_y, max_x, max_y, module_mm,
	machine_id, pinned, attempt, retry_of, lines_total, lines_acked, parts_done, estimate_seconds, actual_seconds,
	error_code, error_text, cancel_requested, resolution, resolution_note, resolved_by, resolved_at, next_job_id,
	created_by, created_at, updated_at, started_at, finished_at, heartbeat_at, line`

func scanJob(r rowScanner) (engraving.Job, error) {
	var j engraving.Job
	var parts, laser, placement string
	var tray *string
	var actual *float64
	var resolved, created, updated, started, finished, heartbeat dbTime
	err := r.Scan(&j.Seq, &j.ID, &j.Status, &j.Priority, &parts, &laser, &placement, &tray,
		&j.Footprint.MinX, &j.Footprint.MinY, &j.Footprint.MaxX, &j.Footprint.MaxY, &j.ModuleMM,
		&j.MachineID, &j.Pinned, &j.Attempt, &j.RetryOf, &j.LinesTotal, &j.LinesAcked, &j.PartsDone, &j.EstimateSeconds, &actual,
		&j.ErrorCode, &j.ErrorText, &j.CancelRequested, &j.Resolution, &j.ResolutionNote, &j.ResolvedBy, &resolved, &j.NextJobID,
		&j.CreatedBy, &created, &updated, &started, &finished, &heartbeat, &j.Line)
	if err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(parts), &j.Parts); err != nil {
		return j, fmt.Errorf("decode parts of job %s: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(laser), &j.Laser); err != nil {
		return j, fmt.Errorf("decode laser settings of job %s: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(placement), &j.Placement); err != nil {
		return j, fmt.Errorf("decode placement of job %s: %w", j.ID, err)
	}
	if tray != nil && *tray != "" {
		j.Tray = new(engraving.Tray)
		if err := json.Unmarshal([]byte(*tray), j.Tray); err != nil {
			return j, fmt.Errorf("decode tray of job %s: %w", j.ID, err)
		}
	}
	if len(j.Parts) > 0 {
		j.ItemUID, j.QRCodeData = j.Parts[0].ItemUID, j.Parts[0].QRCodeData
	}
	j.ActualSeconds = actual
	j.ResolvedAt, j.CreatedAt, j.UpdatedAt = resolved.ptr(), created.Time, updated.Time
	j.StartedAt, j.FinishedAt, j.HeartbeatAt = started.ptr(), finished.ptr(), heartbeat.ptr()
	return j, nil
}

// GetJob implements engraving.Store.
func (s *EngravingStore) GetJob(ctx context.Context, id string) (engraving.Job, error) {
	j, err := scanJob(s.db.reader().queryRow(ctx, `SELECT `+jobColumns+` FROM engraving_jobs WHERE id = ?`, id))
	if err != nil {
		return j, notFound(err, "engraving job %s does not exist", id)
	}
	return j, nil
}

// ListJobs implements engraving.Store.
func (s *EngravingStore) ListJobs(ctx context.Context, f engraving.JobFilter) ([]engraving.Job, error) {
	var conds []string
	var args []any
	if f.Status != "" {
		conds, args = append(conds, "status = ?"), append(args, string(f.Status))
	}
	if f.MachineID != "" {
		conds, args = append(conds, "machine_id = ?"), append(args, f.MachineID)
	}
	if f.ItemUID != "" {
		conds, args = append(conds, "id IN (SELECT job_id FROM engraving_job_items WHERE item_uid = ?)"), append(args, f.ItemUID)
	}
	if f.BeforeSeq > 0 {
		conds, args = append(conds, "seq < ?"), append(args, f.BeforeSeq)
	}
	if f.Line != "" {
		conds, args = append(conds, "line = ?"), append(args, f.Line)
	}
	if len(f.Lines) > 0 {
		// A restricted caller sees its lines' jobs and those of no line.
		conds = append(conds, "line IN ("+placeholders(len(f.Lines)+1)+")")
		args = append(args, "")
		for _, l := range f.Lines {
			args = append(args, l)
		}
	}
	q := `SELECT ` + jobColumns + ` FROM engraving_jobs`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.reader().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list engraving jobs: %w", err)
	}
	defer rows.Close()
	var out []engraving.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list engraving jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, mapError(rows.Err())
}

const machineColumns = `id, name, address, work_width, work_height, laser_type, spot_size, settings, info,
	simulated, auto_connect, paused, home_required, pause_reason, created_at, updated_at, line, has_z`

func scanMachine(r rowScanner) (engraving.Machine, error) {
	var m engraving.Machine
	var settings, info string
	var created, updated dbTime
	err := r.Scan(&m.ID, &m.Name, &m.Address, &m.WorkArea.Width, &m.WorkArea.Height, &m.LaserType, &m.SpotSize,
		&settings, &info, &m.Simulated, &m.AutoConnect, &m.Paused, &m.HomeRequired, &m.PauseReason, &created, &updated, &m.Line, &m.HasZ)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(settings), &m.Settings); err != nil {
		return m, fmt.Errorf("decode settings of machine %s: %w", m.ID, err)
	}
	if err := json.Unmarshal([]byte(info), &m.Info); err != nil {
		return m, fmt.Errorf("decode info of machine %s: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt = created.Time, updated.Time
	return m, nil
}

// GetMachine implements engraving.Store.
func (s *EngravingStore) GetMachine(ctx context.Context, id string) (engraving.Machine, error) {
	m, err := scanMachine(s.db.reader().queryRow(ctx, `SELECT `+machineColumns+` FROM engraving_machines WHERE id = ?`, id))
	if err != nil {
		return m, notFound(err, "machine %s does not exist", id)
	}
	return m, nil
}

// MachineByName implements engraving.Store.
func (s *EngravingStore) MachineByName(ctx context.Context, name string) (engraving.Machine, error) {
	m, err := scanMachine(s.db.reader().queryRow(ctx, `SELECT `+machineColumns+` FROM engraving_machines WHERE name = ?`, name))
	if err != nil {
		return m, notFound(err, "no machine is named %q", name)
	}
	return m, nil
}

// ListMachines implements engraving.Store.
func (s *EngravingStore) ListMachines(ctx context.Context) ([]engraving.Machine, error) {
	rows, err := s.db.reader().query(ctx, `SELECT `+machineColumns+` FROM engraving_machines ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}
	defer rows.Close()
	var out []engraving.Machine
	for rows.Next() {
		m, err := scanMachine(rows)
		if err != nil {
			return nil, fmt.Errorf("list machines: %w", err)
		}
		out = append(out, m)
	}
	return out, mapError(rows.Err())
}

// MachineEvents implements engraving.Store.
func (s *EngravingStore) MachineEvents(ctx context.Context, machineID string, limit int) ([]engraving.MachineEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.reader().query(ctx, `SELECT id, machine_id, kind, alarm_code, detail, actor, job_id, event_id, at
		FROM engraving_machine_events WHERE machine_id = ? ORDER BY id DESC LIMIT ?`, machineID, limit)
	if err != nil {
		return nil, fmt.Errorf("machine history: %w", err)
	}
	defer rows.Close()
	out := []engraving.MachineEvent{}
	for rows.Next() {
		var e engraving.MachineEvent
		var at dbTime
		if err := rows.Scan(&e.ID, &e.MachineID, &e.Kind, &e.AlarmCode, &e.Detail, &e.Actor, &e.JobID, &e.EventID, &at); err != nil {
			return nil, fmt.Errorf("machine history: %w", err)
		}
		e.At = at.Time
		out = append(out, e)
	}
	return out, mapError(rows.Err())
}

// Preview implements engraving.Store.
func (s *EngravingStore) Preview(ctx context.Context, jobID string) ([]byte, error) {
	var b []byte
	err := s.db.reader().queryRow(ctx, `SELECT png FROM engraving_previews WHERE job_id = ?`, jobID).Scan(&b)
	if err != nil {
		return nil, notFound(err, "job %s has no burn image", jobID)
	}
	return b, nil
}

// Update implements engraving.Store.
func (s *EngravingStore) Update(ctx context.Context, fn func(ctx context.Context, tx engraving.Tx) error) error {
	return s.db.inTx(ctx, func(t *txn) error { return fn(ctx, &engTx{txn: t}) })
}

type engTx struct{ *txn }

func (t *engTx) Now() time.Time { return t.now }

func encodeJob(j *engraving.Job) (parts, laser, placement string, tray any, err error) {
	b, err := json.Marshal(j.Parts)
	if err != nil {
		return "", "", "", nil, fmt.Errorf("encode parts: %w", err)
	}
	parts = string(b)
	if b, err = json.Marshal(j.Laser); err != nil {
		return "", "", "", nil, fmt.Errorf("encode laser settings: %w", err)
	}
	laser = string(b)
	if b, err = json.Marshal(j.Placement); err != nil {
		return "", "", "", nil, fmt.Errorf("encode placement: %w", err)
	}
	placement = string(b)
	if j.Tray != nil {
		if b, err = json.Marshal(j.Tray); err != nil {
			return "", "", "", nil, fmt.Errorf("encode tray: %w", err)
		}
		tray = string(b)
	}
	return parts, laser, placement, tray, nil
}

func (t *engTx) InsertJob(ctx context.Context, j *engraving.Job) error {
	parts, laser, placement, tray, err := encodeJob(j)
	if err != nil {
		return err
	}
	j.CreatedAt, j.UpdatedAt = t.now, t.now
	err = t.queryRow(ctx, `INSERT INTO engraving_jobs (id, status, priority, priority_rank, parts, laser, placement, tray,
		min_x, min_y, max_x, max_y, module_mm, machine_id, pinned, attempt, retry_of, lines_total, estimate_seconds, created_by, created_at, updated_at, line)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		j.ID, string(j.Status), string(j.Priority), j.Priority.Rank(), parts, laser, placement, tray,
		j.Footprint.MinX, j.Footprint.MinY, j.Footprint.MaxX, j.Footprint.MaxY, j.ModuleMM, j.MachineID, j.Pinned,
		j.Attempt, j.RetryOf, j.LinesTotal, j.EstimateSeconds, j.CreatedBy, t.db.ts(t.now), t.db.ts(t.now), j.Line).Scan(&j.Seq)
	if err != nil {
		return fmt.Errorf("insert engraving job: %w", mapError(err))
	}
	seen := map[string]bool{}
	for _, p := range j.Parts {
		if seen[p.ItemUID] {
			continue
		}
		seen[p.ItemUID] = true
		if _, err := t.exec(ctx, `INSERT INTO engraving_job_items (item_uid, job_id) VALUES (?, ?)`, p.ItemUID, j.ID); err != nil {
			return fmt.Errorf("insert engraving job item: %w", err)
		}
	}
	return nil
}

func (t *engTx) LockJob(ctx context.Context, id string) (engraving.Job, error) {
	j, err := scanJob(t.queryRow(ctx, `SELECT `+jobColumns+` FROM engraving_jobs WHERE id = ?`+t.db.forUpdate(), id))
	if err != nil {
		return j, notFound(err, "engraving job %s does not exist", id)
	}
	return j, nil
}

func (t *engTx) UpdateJob(ctx context.Context, j *engraving.Job) error {
	parts, laser, placement, tray, err := encodeJob(j)
	if err != nil {
		return err
	}
	j.UpdatedAt = t.now
	res, err := t.exec(ctx, `UPDATE engraving_jobs SET status = ?, priority = ?, priority_rank = ?, parts = ?, laser = ?, placement = ?, tray = ?,
		min_x = ?, min_y = ?, max_x = ?, max_y = ?, module_mm = ?, machine_id = ?, pinned = ?, lines_total = ?, lines_acked = ?, parts_done = ?,
		estimate_seconds = ?, actual_seconds = ?, error_code = ?, error_text = ?, cancel_requested = ?, resolution = ?, resolution_note = ?,
		resolved_by = ?, resolved_at = ?, next_job_id = ?, updated_at = ?, started_at = ?, finished_at = ?, heartbeat_at = ?
		WHERE id = ?`,
		string(j.Status), string(j.Priority), j.Priority.Rank(), parts, laser, placement, tray,
		j.Footprint.MinX, j.Footprint.MinY, j.Footprint.MaxX, j.Footprint.MaxY, j.ModuleMM, j.MachineID, j.Pinned, j.LinesTotal, j.LinesAcked, j.PartsDone,
		j.EstimateSeconds, j.ActualSeconds, j.ErrorCode, j.ErrorText, j.CancelRequested, j.Resolution, j.ResolutionNote,
		j.ResolvedBy, t.db.nullTS(j.ResolvedAt), j.NextJobID, t.db.ts(t.now), t.db.nullTS(j.StartedAt), t.db.nullTS(j.FinishedAt), t.db.nullTS(j.HeartbeatAt),
		j.ID)
	if err != nil {
		return fmt.Errorf("update engraving job %s: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return qrmfg.Errorf(qrmfg.ENOTFOUND, "engraving job %s does not exist", j.ID)
	}
	return nil
}

func (t *engTx) BlockingJobs(ctx context.Context, uids []string) ([]engraving.ItemJob, error) {
	if t.db.dialect == Postgres {
		// Serialise job creation per item: without it two transactions could
		// both find no blocking job for a part and both queue it, and a part
		// engraved twice is scrap. (SQLite's single writer already serialises.)
		// Locks are taken in key order so concurrent creators cannot deadlock.
		keys := make([]int64, len(uids))
		for i, u := range uids {
			h := fnv.New64a()
			h.Write([]byte("qrmfg.engraving.item:" + u))
			keys[i] = int64(h.Sum64())
		}
		slices.Sort(keys)
		if _, err := t.exec(ctx, `SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(? AS BIGINT[])) AS k ORDER BY k`, keys); err != nil {
			return nil, fmt.Errorf("lock items for engraving: %w", err)
		}
	}
	var out []engraving.ItemJob
	const chunk = 500
	for len(uids) > 0 {
		n := min(chunk, len(uids))
		part := uids[:n]
		uids = uids[n:]
		args := make([]any, len(part))
		for i, u := range part {
			args[i] = u
		}
		ph := placeholders(len(part))
		err := func() error {
			rows, err := t.query(ctx, `SELECT i.item_uid, j.id, j.status FROM engraving_job_items i JOIN engraving_jobs j ON j.id = i.job_id
			WHERE i.item_uid IN (`+ph+`) AND (j.status IN ('queued', 'running') OR (j.status = 'interrupted' AND j.resolution = ''))
			ORDER BY i.item_uid, j.id`, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var h engraving.ItemJob
				if err := rows.Scan(&h.ItemUID, &h.JobID, &h.Status); err != nil {
					return err
				}
				out = append(out, h)
			}
			return mapError(rows.Err())
		}()
		if err != nil {
			return nil, fmt.Errorf("jobs holding items: %w", err)
		}
	}
	return out, nil
}

func (t *engTx) ClaimJob(ctx context.Context, f engraving.Fit) (*engraving.Job, error) {
	lock := ""
	if t.db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	j, err := scanJob(t.queryRow(ctx, `SELECT `+jobColumns+` FROM engraving_jobs
		WHERE status = 'queued' AND (pinned = ? OR machine_id = ?) AND min_x >= 0 AND min_y >= 0 AND max_x <= ? AND max_y <= ? AND module_mm >= ?
			AND (? = '' OR line = '' OR line = ?)
		ORDER BY priority_rank DESC, seq LIMIT 1`+lock, false, f.MachineID, f.Width, f.Height, f.SpotSize, f.Line, f.Line))
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim engraving job: %w", mapError(err))
	}
	now := t.now
	j.Status, j.MachineID, j.StartedAt, j.HeartbeatAt = engraving.JobRunning, f.MachineID, &now, &now
	if err := t.UpdateJob(ctx, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

func (t *engTx) Progress(ctx context.Context, id string, linesAcked, partsDone int) (bool, error) {
	var cancel bool
	err := t.queryRow(ctx, `UPDATE engraving_jobs SET lines_acked = ?, parts_done = ?, heartbeat_at = ?, updated_at = ?
		WHERE id = ? AND status = 'running' RETURNING cancel_requested`,
		linesAcked, partsDone, t.db.ts(t.now), t.db.ts(t.now), id).Scan(&cancel)
	if err != nil {
		return false, notFound(err, "engraving job %s is not running", id)
	}
	return cancel, nil
}

func (t *engTx) StaleRunning(ctx context.Context, before time.Time) ([]engraving.Job, error) {
	rows, err := t.query(ctx, `SELECT `+jobColumns+` FROM engraving_jobs
		WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?) ORDER BY seq`+t.db.forUpdate(), t.db.ts(before))
	if err != nil {
		return nil, fmt.Errorf("stale running jobs: %w", err)
	}
	defer rows.Close()
	var out []engraving.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("stale running jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, mapError(rows.Err())
}

func encodeMachine(m *engraving.Machine) (settings, info string, err error) {
	if m.Settings == nil {
		m.Settings = map[string]float64{}
	}
	if m.Info == nil {
		m.Info = map[string]string{}
	}
	b, err := json.Marshal(m.Settings)
	if err != nil {
		return "", "", fmt.Errorf("encode machine settings: %w", err)
	}
	c, err := json.Marshal(m.Info)
	if err != nil {
		return "", "", fmt.Errorf("encode machine info: %w", err)
	}
	return string(b), string(c), nil
}

func (t *engTx) InsertMachine(ctx context.Context, m *engraving.Machine) error {
	settings, info, err := encodeMachine(m)
	if err != nil {
		return err
	}
	m.CreatedAt, m.UpdatedAt = t.now, t.now
	_, err = t.exec(ctx, `INSERT INTO engraving_machines (id, name, address, work_width, work_height, laser_type, spot_size, settings, info,
		simulated, auto_connect, paused, home_required, pause_reason, created_at, updated_at, line, has_z)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Name, m.Address, m.WorkArea.Width, m.WorkArea.Height, string(m.LaserType), m.SpotSize, settings, info,
		m.Simulated, m.AutoConnect, m.Paused, m.HomeRequired, m.PauseReason, t.db.ts(t.now), t.db.ts(t.now), m.Line, m.HasZ)
	if qrmfg.ErrorCode(err) == qrmfg.ECONFLICT {
		return &qrmfg.Error{Code: qrmfg.ECONFLICT, Field: "name", Message: fmt.Sprintf("a machine named %q is already registered", m.Name), Err: err}
	}
	if err != nil {
		return fmt.Errorf("insert machine: %w", err)
	}
	return nil
}

func (t *engTx) LockMachine(ctx context.Context, id string) (engraving.Machine, error) {
	m, err := scanMachine(t.queryRow(ctx, `SELECT `+machineColumns+` FROM engraving_machines WHERE id = ?`+t.db.forUpdate(), id))
	if err != nil {
		return m, notFound(err, "machine %s does not exist", id)
	}
	return m, nil
}

func (t *engTx) UpdateMachine(ctx context.Context, m *engraving.Machine) error {
	settings, info, err := encodeMachine(m)
	if err != nil {
		return err
	}
	m.UpdatedAt = t.now
	res, err := t.exec(ctx, `UPDATE engraving_machines SET name = ?, address = ?, work_width = ?, work_height = ?, laser_type = ?, spot_size = ?,
		settings = ?, info = ?, simulated = ?, auto_connect = ?, paused = ?, home_required = ?, pause_reason = ?, updated_at = ? WHERE id = ?`,
		m.Name, m.Address, m.WorkArea.Width, m.WorkArea.Height, string(m.LaserType), m.SpotSize, settings, info,
		m.Simulated, m.AutoConnect, m.Paused, m.HomeRequired, m.PauseReason, t.db.ts(t.now), m.ID)
	if err != nil {
		return fmt.Errorf("update machine %s: %w", m.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return qrmfg.Errorf(qrmfg.ENOTFOUND, "machine %s does not exist", m.ID)
	}
	return nil
}

func (t *engTx) AddMachineEvent(ctx context.Context, e engraving.MachineEvent) error {
	at := e.At
	if at.IsZero() {
		at = t.now
	}
	_, err := t.exec(ctx, `INSERT INTO engraving_machine_events (machine_id, kind, alarm_code, detail, actor, job_id, event_id, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.MachineID, e.Kind, e.AlarmCode, e.Detail, e.Actor, e.JobID, e.EventID, t.db.ts(at))
	if err != nil {
		return fmt.Errorf("add machine event: %w", err)
	}
	return nil
}

func (t *engTx) SavePreview(ctx context.Context, jobID string, png []byte) error {
	_, err := t.exec(ctx, `INSERT INTO engraving_previews (job_id, png, created_at) VALUES (?, ?, ?)
		ON CONFLICT (job_id) DO UPDATE SET png = excluded.png, created_at = excluded.created_at`, jobID, png, t.db.ts(t.now))
	if err != nil {
		return fmt.Errorf("save burn image of job %s: %w", jobID, err)
	}
	return nil
}

func (t *engTx) Emit(ctx context.Context, ev qrmfg.Event) error { return t.emit(ctx, ev) }
