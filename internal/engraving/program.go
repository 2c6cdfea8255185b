package engraving

import (
	"fmt"
	"strconv"

	"github.com/qrmfg/qrmfg/internal/engraving/gcode"
	"github.com/qrmfg/qrmfg/internal/engraving/grbl"
	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// QRLevel is the error-correction level of engraved codes: M, as the
// generation service uses by default.
const QRLevel = qr.M

// machineOf maps stored controller settings to what the generator needs;
// missing settings take the simulated machine's defaults.
func machineOf(settings map[string]float64) gcode.Machine {
	m := gcode.DefaultMachine()
	get := func(n int, d float64) float64 {
		if v, ok := settings["$"+strconv.Itoa(n)]; ok && v > 0 {
			return v
		}
		return d
	}
	m.MaxSpindle = get(30, m.MaxSpindle)
	m.JunctionDeviation = get(11, m.JunctionDeviation)
	for i := range 3 {
		m.MaxRate[i] = get(110+i, m.MaxRate[i])
		m.Accel[i] = get(120+i, m.Accel[i])
	}
	return m
}

// machineFor is what the generator needs of machine m (nil: the simulated
// machine's defaults): its controller settings and whether it has Z.
func machineFor(m *Machine) gcode.Machine {
	if m == nil {
		return machineOf(nil)
	}
	mc := machineOf(m.Settings)
	mc.HasZ = m.HasZ
	return mc
}

// settingsOf stores a controller's $$ values by name ("$30").
func settingsOf(s grbl.Settings) map[string]float64 {
	out := make(map[string]float64, len(s.Values))
	for k, v := range s.Values {
		out["$"+strconv.Itoa(k)] = v
	}
	return out
}

// encodeParts turns every part's QR data into a symbol.
func encodeParts(parts []Part) ([]*qr.Matrix, error) {
	codes := make([]*qr.Matrix, len(parts))
	for i, p := range parts {
		sym, err := qr.Encode(p.QRCodeData, qr.Options{Level: QRLevel})
		if err != nil {
			field := "qr_code_data"
			if len(parts) > 1 {
				field = fmt.Sprintf("parts[%d].qr_code_data", i)
			}
			e := qrmfg.AsError(err)
			return nil, &qrmfg.Error{Code: qrmfg.EINVALID, Field: field, Message: "cannot encode the QR code data: " + e.Message, Err: err}
		}
		codes[i] = sym.Matrix
	}
	return codes, nil
}

// program generates the G-code of job j for machine mc.
func program(j *Job, mc gcode.Machine) (*gcode.Program, error) {
	p, _, err := programCodes(j, mc)
	return p, err
}

func programCodes(j *Job, mc gcode.Machine) (*gcode.Program, []*qr.Matrix, error) {
	p, codes, err := generate(j, mc, false)
	if err != nil {
		if e := qrmfg.AsError(err); e != nil && e.Code == qrmfg.EINVALID {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("generate the program of job %s: %w", j.ID, err)
	}
	return p, codes, nil
}

// frameProgram is the laser-off outline of j's codes.
func frameProgram(j *Job, mc gcode.Machine) (*gcode.Program, error) {
	p, _, err := generate(j, mc, true)
	return p, err
}

// generate encodes j's codes and makes their program: the engraving or,
// with frame, its laser-off outline in one pass.
func generate(j *Job, mc gcode.Machine, frame bool) (*gcode.Program, []*qr.Matrix, error) {
	codes, err := encodeParts(j.Parts)
	if err != nil {
		return nil, nil, err
	}
	laser := gcode.Laser{Power: j.Laser.Power, Speed: j.Laser.Speed, Passes: j.Laser.Passes, Depth: j.Laser.Depth}
	if frame {
		laser = gcode.Laser{Power: j.Laser.Power, Speed: j.Laser.Speed, Passes: 1, Frame: true}
	}
	gj := gcode.Job{Placement: j.Placement.gcode(), Laser: laser, Machine: mc}
	var p *gcode.Program
	if j.Tray != nil {
		p, err = gcode.GenerateTray(codes, j.Tray.gcode(), gj)
	} else {
		p, err = gcode.Generate(codes[0], gj)
	}
	return p, codes, err
}

// plan fills j's footprint, module size, line count and estimate from its
// program on machine mc.
func plan(j *Job, mc gcode.Machine) (*gcode.Program, error) {
	p, codes, err := programCodes(j, mc)
	if err != nil {
		return nil, err
	}
	est, err := gcode.EstimateProgram(p, mc)
	if err != nil {
		return nil, fmt.Errorf("estimate job %s: %w", j.ID, err)
	}
	j.Footprint = Footprint{MinX: p.Bounds.MinX, MinY: p.Bounds.MinY, MaxX: p.Bounds.MaxX, MaxY: p.Bounds.MaxY}
	j.ModuleMM = moduleSize(j.Placement, codes)
	j.LinesTotal = len(p.Lines)
	j.EstimateSeconds = est.Total.Seconds()
	return p, nil
}

// moduleSize is the side of the smallest module among the codes.
func moduleSize(pl Placement, codes []*qr.Matrix) float64 {
	if pl.Module > 0 {
		return pl.Module
	}
	n := 0
	for _, c := range codes {
		n = max(n, c.Size())
	}
	if n == 0 {
		return 0
	}
	return pl.Size / float64(n)
}
