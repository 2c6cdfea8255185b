package engraving

import (
	"context"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Production lines. A machine may belong to a line, set when it is
// registered; a job belongs to its pinned machine's line when that machine
// has one, otherwise to the line of its items. A user or API key restricted
// to lines (the actor's Lines) sees and touches only the machines and jobs
// of those lines and of no line: to it the others do not exist (ENOTFOUND
// with the message of a missing one, so ids cannot be probed). The
// dispatcher and the recovery at start run as the system actor and see
// every machine and job.

// checkMachine returns ENOTFOUND for a machine the actor may not see.
func checkMachine(ctx context.Context, m Machine) error {
	return qrmfg.CheckLine(ctx, m.Line, "machine", m.ID)
}

// checkJob returns ENOTFOUND for a job the actor may not see.
func checkJob(ctx context.Context, j Job) error {
	return qrmfg.CheckLine(ctx, j.Line, "engraving job", j.ID)
}

// getMachine reads a machine the actor may see.
func (s *Service) getMachine(ctx context.Context, id string) (Machine, error) {
	m, err := s.store.GetMachine(ctx, id)
	if err == nil {
		err = checkMachine(ctx, m)
	}
	if err != nil {
		return Machine{}, err
	}
	return m, nil
}

// getJob reads a job the actor may see.
func (s *Service) getJob(ctx context.Context, id string) (Job, error) {
	j, err := s.store.GetJob(ctx, id)
	if err == nil {
		err = checkJob(ctx, j)
	}
	if err != nil {
		return Job{}, err
	}
	return j, nil
}

// jobLine is the line of a job on parts: its pinned machine's line when the
// machine has one, otherwise the line of its items (itemLines by uid). The
// items of one job (a tray load) must not be on different lines.
func jobLine(pinned *Machine, parts []Part, itemLines map[string]string) (string, error) {
	if pinned != nil && pinned.Line != "" {
		return pinned.Line, nil
	}
	line := ""
	for _, p := range parts {
		l := itemLines[p.ItemUID]
		switch {
		case l == "" || l == line:
		case line == "":
			line = l
		default:
			return "", qrmfg.FieldError("item_uids", "the parts of one job are on different production lines (%s and %s); engrave them in separate jobs", line, l)
		}
	}
	return line, nil
}
