package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/qrmfg/qrmfg/internal/engraving"
)

type createJobInput struct {
	Body engraving.CreateRequest
}

type bulkJobsInput struct {
	Body engraving.BulkRequest
}

type jobOutput struct {
	Location string `header:"Location"`
	Body     engraving.Job
}

type bulkJobsOutput struct {
	Body struct {
		Jobs  []engraving.Job `json:"jobs"`
		Parts int             `json:"parts"`
	}
}

type jobIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type priorityInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Priority string `json:"priority" enum:"urgent,high,normal,low" doc:"The job's new place in the queue"`
	}
}

type listJobsInput struct {
	Status    string `query:"status" enum:"queued,running,completed,failed,cancelled,interrupted," doc:"Only jobs in this state"`
	MachineID string `query:"machine_id"`
	ItemUID   string `query:"item_uid" doc:"Jobs that engrave this item"`
	Line      string `query:"line" maxLength:"64" doc:"Jobs of this production line"`
	Limit     int    `query:"limit" default:"100" doc:"1 to 1000, newest first"`
}

type jobsOutput struct {
	Body struct {
		Jobs []engraving.Job `json:"jobs"`
	}
}

type resolveInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body engraving.ResolveRequest
}

type resolveOutput struct {
	Body struct {
		Job     engraving.Job  `json:"job"`
		NextJob *engraving.Job `json:"next_job,omitempty"`
	}
}

type textOutput struct {
	ContentType string `header:"Content-Type"`
	Disposition string `header:"Content-Disposition"`
	Source      string `header:"X-Preview-Source"`
	Body        []byte
}

type registerMachineInput struct {
	Body engraving.RegisterRequest
}

type machineOutput struct {
	Body engraving.MachineStatus
}

type machinesOutput struct {
	Body struct {
		Machines []engraving.MachineStatus `json:"machines"`
	}
}

type machineIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type pauseInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body *struct {
		Reason string `json:"reason,omitempty" maxLength:"500"`
	}
}

type frameInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body *engraving.FrameRequest
}

type historyInput struct {
	ID    string `path:"id" maxLength:"64"`
	Limit int    `query:"limit" default:"100" doc:"1 to 1000, newest first"`
}

type historyOutput struct {
	Body struct {
		Events []engraving.MachineEvent `json:"events"`
	}
}

func (s *Server) registerEngraving() {
	eng := s.svc.Engraving
	tags := []string{"engraving"}
	huma.Register(s.api, huma.Operation{OperationID: "create-engraving-job", Method: http.MethodPost, Path: "/engraving/jobs",
		Summary: "Queue an engraving job", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "The seed's body: item_uid (in status generated), qr_code_data (default: the item's payload), laser_settings " +
			"(power %, speed mm/min, passes, depth mm) and priority (urgent, high, normal, low). The dispatcher gives the job to an idle machine that fits; " +
			"follow it at /engraving/jobs/{id}/events. 409 when the item has a queued or running job, or an interrupted job not resolved yet " +
			"(named in the answer: resolve it first).",
		Errors: []int{http.StatusUnprocessableEntity, http.StatusConflict}},
		func(ctx context.Context, in *createJobInput) (*jobOutput, error) {
			j, err := eng.Create(ctx, in.Body)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &jobOutput{Location: "/engraving/jobs/" + j.ID, Body: j}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "create-engraving-jobs-bulk", Method: http.MethodPost, Path: "/engraving/jobs/bulk",
		Summary: "Queue engraving jobs for many items", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "By item_uids or by lot (every generated item without an active job). Without a tray, one job per item; with a tray " +
			"(cols × rows fixtures at a pitch), one program per tray load, each part still tracked to its own item. All or nothing: " +
			"409 when an item has a queued or running job, or (also by lot) an interrupted job not resolved yet, named in the answer.",
		Errors: []int{http.StatusUnprocessableEntity, http.StatusConflict}},
		func(ctx context.Context, in *bulkJobsInput) (*bulkJobsOutput, error) {
			jobs, err := eng.CreateBulk(ctx, in.Body)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &bulkJobsOutput{}
			out.Body.Jobs = jobs
			for _, j := range jobs {
				out.Body.Parts += len(j.Parts)
			}
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-engraving-jobs", Method: http.MethodGet, Path: "/engraving/jobs",
		Summary: "List engraving jobs, newest first", Tags: tags},
		func(ctx context.Context, in *listJobsInput) (*jobsOutput, error) {
			f := engraving.JobFilter{MachineID: in.MachineID, ItemUID: in.ItemUID, Line: in.Line, Limit: in.Limit}
			if in.Status != "" {
				st, err := engraving.ParseJobStatus(in.Status)
				if err != nil {
					return nil, s.fail(ctx, err)
				}
				f.Status = st
			}
			jobs, err := eng.List(ctx, f)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &jobsOutput{}
			out.Body.Jobs = append([]engraving.Job{}, jobs...)
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-engraving-job", Method: http.MethodGet, Path: "/engraving/jobs/{id}",
		Summary: "An engraving job: state, progress, estimate and actual time", Tags: tags},
		func(ctx context.Context, in *jobIDInput) (*jobOutput, error) {
			j, err := eng.Get(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &jobOutput{Body: j}, nil
		})
	jobAction := func(id, path, summary, desc string, fn func(ctx context.Context, id string) (engraving.Job, error)) {
		huma.Register(s.api, huma.Operation{OperationID: id, Method: http.MethodPost, Path: path, Summary: summary, Tags: tags,
			Description: desc, Errors: []int{http.StatusNotFound, http.StatusConflict}},
			func(ctx context.Context, in *jobIDInput) (*jobOutput, error) {
				j, err := fn(ctx, in.ID)
				if err != nil {
					return nil, s.fail(ctx, err)
				}
				return &jobOutput{Body: j}, nil
			})
	}
	jobAction("cancel-engraving-job", "/engraving/jobs/{id}/cancel", "Cancel a job",
		"A queued job is cancelled at once. A running job's machine gets a feed hold, a soft reset and the laser off; the job ends cancelled "+
			"and the machine is paused until an operator resumes it.", eng.Cancel)
	huma.Register(s.api, huma.Operation{OperationID: "set-engraving-job-priority", Method: http.MethodPatch, Path: "/engraving/jobs/{id}",
		Summary: "Change a queued job's priority", Tags: tags,
		Description: "Moves the job up or down the queue: urgent before high before normal before low, oldest first within a priority. " +
			"409 unless the job is queued.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}},
		func(ctx context.Context, in *priorityInput) (*jobOutput, error) {
			j, err := eng.SetPriority(ctx, in.ID, in.Body.Priority)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &jobOutput{Body: j}, nil
		})
	jobAction("retry-engraving-job", "/engraving/jobs/{id}/retry", "Retry a failed or cancelled job as a new attempt",
		"Queues a new job (attempt + 1, retry_of) on the same parts, which must still be generated.", eng.Retry)
	huma.Register(s.api, huma.Operation{OperationID: "resolve-engraving-job", Method: http.MethodPost, Path: "/engraving/jobs/{id}/resolve",
		Summary: "Decide what happens to an interrupted job", Tags: tags,
		Description: "confirm_engraved: inspection shows the codes are complete; the job becomes completed and its items engraved. " +
			"reengrave with new_item_uids: the old items become void and a new job engraves the new items (one per part, in order). " +
			"reengrave with confirm_unburnt: nothing was burned; a new attempt engraves the same parts.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}},
		func(ctx context.Context, in *resolveInput) (*resolveOutput, error) {
			j, next, err := eng.Resolve(ctx, in.ID, in.Body)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &resolveOutput{}
			out.Body.Job, out.Body.NextJob = j, next
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "engraving-job-gcode", Method: http.MethodGet, Path: "/engraving/jobs/{id}/gcode",
		Summary: "The job's G-code", Tags: tags,
		Responses: map[string]*huma.Response{"200": {Description: "G-code, one line per block", Content: map[string]*huma.MediaType{"text/plain": {}}}}},
		func(ctx context.Context, in *jobIDInput) (*textOutput, error) {
			lines, err := eng.Gcode(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &textOutput{ContentType: "text/plain; charset=utf-8", Disposition: `inline; filename="` + in.ID + `.gcode"`,
				Body: []byte(strings.Join(lines, "\n") + "\n")}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "engraving-job-preview", Method: http.MethodGet, Path: "/engraving/jobs/{id}/preview.png",
		Summary: "Picture of the job's burned area", Tags: tags,
		Description: "For a job run on the simulated machine, the simulator's image of what it burned (X-Preview-Source: burned); otherwise " +
			"the program run offline through a simulator (X-Preview-Source: simulated). 10 px/mm, white unburned.",
		Responses: map[string]*huma.Response{"200": {Description: "PNG", Content: map[string]*huma.MediaType{"image/png": {}}}}},
		func(ctx context.Context, in *jobIDInput) (*textOutput, error) {
			png, source, err := eng.Preview(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &textOutput{ContentType: "image/png", Source: source, Body: png}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "engraving-job-events", Method: http.MethodGet, Path: "/engraving/jobs/{id}/events",
		Summary: "A job's progress as server-sent events", Tags: tags, Responses: sseResponses(),
		Description: "Each `job` event carries the job as JSON (state, lines acknowledged, parts done); the stream ends once the job is final."},
		func(ctx context.Context, in *jobIDInput) (*huma.StreamResponse, error) {
			j, err := eng.Get(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				ch, stop := eng.Follow("job", in.ID)
				defer stop()
				w := startSSE(hc)
				send := func(j engraving.Job) bool {
					return w.send("job", j) && !j.Status.Final()
				}
				if !send(j) {
					return
				}
				tick := time.NewTicker(2 * time.Second)
				defer tick.Stop()
				for {
					select {
					case u := <-ch:
						if u.Job != nil && !send(*u.Job) {
							return
						}
					case <-tick.C:
						// Poll too: the job may run in another process.
						cur, err := eng.Get(ctx, in.ID)
						if err != nil || !send(cur) {
							return
						}
					case <-ctx.Done():
						return
					}
				}
			}}, nil
		})

	// Machines.
	huma.Register(s.api, huma.Operation{OperationID: "register-machine", Method: http.MethodPost, Path: "/engraving/machines",
		Summary: "Register a laser machine", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "Registers a GRBL controller at tcp://host:port (host in QRMFG_MACHINE_NETWORKS) or serial:///dev/tty…?baud=115200. " +
			"It is not connected yet: POST /engraving/machines/{id}/connect.",
		Errors: []int{http.StatusUnprocessableEntity, http.StatusConflict}},
		func(ctx context.Context, in *registerMachineInput) (*machineOutput, error) {
			m, err := eng.Register(ctx, in.Body)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &machineOutput{Body: m}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-machines", Method: http.MethodGet, Path: "/engraving/machines",
		Summary: "List machines with their live state", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*machinesOutput, error) {
			ms, err := eng.Machines(ctx)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &machinesOutput{}
			out.Body.Machines = append([]engraving.MachineStatus{}, ms...)
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-machine", Method: http.MethodGet, Path: "/engraving/machines/{id}",
		Summary: "A machine with its live state", Tags: tags},
		func(ctx context.Context, in *machineIDInput) (*machineOutput, error) {
			m, err := eng.Machine(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &machineOutput{Body: m}, nil
		})
	machineAction := func(id, path, summary, desc string, fn func(ctx context.Context, id string) (engraving.MachineStatus, error)) {
		huma.Register(s.api, huma.Operation{OperationID: id, Method: http.MethodPost, Path: path, Summary: summary, Tags: tags,
			Description: desc, Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable}},
			func(ctx context.Context, in *machineIDInput) (*machineOutput, error) {
				m, err := fn(ctx, in.ID)
				if err != nil {
					return nil, s.fail(ctx, err)
				}
				return &machineOutput{Body: m}, nil
			})
	}
	machineAction("connect-machine", "/engraving/machines/{id}/connect", "Connect a machine",
		"Opens the link, performs the GRBL handshake and reads the settings ($$, $I). Nothing else is sent: an interrupted job stays interrupted.", eng.Connect)
	machineAction("disconnect-machine", "/engraving/machines/{id}/disconnect", "Disconnect a machine", "Refused while a job runs.", eng.Disconnect)
	machineAction("home-machine", "/engraving/machines/{id}/home", "Home a machine ($H)",
		"Runs the homing cycle; required after ALARM:1, ALARM:3, homing failures and controller resets. Recorded in the machine's history.", eng.Home)
	machineAction("unlock-machine", "/engraving/machines/{id}/unlock", "Unlock a machine ($X)",
		"Clears an alarm that kept the position (e.g. ALARM:2 soft limit). Audited: who, when and which alarm, in the machine's history and "+
			"the engraving.machine.unlocked event. Alarms that lost the position need home instead (409).", eng.Unlock)
	machineAction("resume-machine", "/engraving/machines/{id}/resume", "Let the dispatcher use a paused machine again",
		"A machine is paused after a job on it failed, was cancelled while running or was interrupted (also when the server stopped during the job "+
			"and found it at the next start): the fixture holds a part to look at. The pause is stored; only this call lifts it.", eng.Resume)
	huma.Register(s.api, huma.Operation{OperationID: "pause-machine", Method: http.MethodPost, Path: "/engraving/machines/{id}/pause",
		Summary: "Stop giving jobs to a machine", Tags: tags},
		func(ctx context.Context, in *pauseInput) (*machineOutput, error) {
			reason := ""
			if in.Body != nil {
				reason = in.Body.Reason
			}
			m, err := eng.Pause(ctx, in.ID, reason)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &machineOutput{Body: m}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "frame-machine", Method: http.MethodPost, Path: "/engraving/machines/{id}/frame",
		Summary: "Trace a test frame with the laser off", Tags: tags,
		Description: "Traces the outline of a job's codes (job_id) or of one code at a placement, laser off, and answers when the machine is done.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}},
		func(ctx context.Context, in *frameInput) (*machineOutput, error) {
			var req engraving.FrameRequest
			if in.Body != nil {
				req = *in.Body
			}
			m, err := eng.Frame(ctx, in.ID, req)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &machineOutput{Body: m}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "machine-history", Method: http.MethodGet, Path: "/engraving/machines/{id}/history",
		Summary: "A machine's history: connects, alarms, unlocks (who, which alarm), homing, pauses", Tags: tags},
		func(ctx context.Context, in *historyInput) (*historyOutput, error) {
			limit := in.Limit
			if limit < 1 || limit > 1000 {
				limit = 100
			}
			evs, err := eng.MachineHistory(ctx, in.ID, limit)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &historyOutput{}
			out.Body.Events = evs
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "machine-events", Method: http.MethodGet, Path: "/engraving/machines/{id}/events",
		Summary: "A machine's live status as server-sent events", Tags: tags, Responses: sseResponses(),
		Description: "A `machine` event with the machine's status whenever its state, position or alarm changes."},
		func(ctx context.Context, in *machineIDInput) (*huma.StreamResponse, error) {
			m, err := eng.Machine(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				ch, stop := eng.Follow("machine", in.ID)
				defer stop()
				w := startSSE(hc)
				if !w.send("machine", m) {
					return
				}
				tick := time.NewTicker(15 * time.Second)
				defer tick.Stop()
				for {
					select {
					case u := <-ch:
						if u.Machine != nil && !w.send("machine", *u.Machine) {
							return
						}
					case <-tick.C:
						if !w.comment("keep-alive") {
							return
						}
					case <-ctx.Done():
						return
					}
				}
			}}, nil
		})
}
