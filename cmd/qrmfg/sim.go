package main

import (
	"context"
	"flag"
	"fmt"
	"image/png"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// simFlags are the flags of `qrmfg sim`.
type simFlags struct {
	listen     string
	pty        bool
	timeScale  float64
	resolution float64
	beamWidth  float64
	settings   string
	homingLock bool
	id         string
	image      string
	faults     grblsim.Faults
}

func (f *simFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:2323", "TCP address to serve the controller on (host:port; port 0 picks one)")
	fs.BoolVar(&f.pty, "pty", false, "serve on a pseudo-terminal instead of TCP and print its device path (serial:///dev/pts/N)")
	fs.Float64Var(&f.timeScale, "time-scale", 1, "virtual seconds per wall-clock second (20 makes a 2-minute job take 6 s)")
	fs.Float64Var(&f.resolution, "resolution", 10, "burn image resolution, px/mm")
	fs.Float64Var(&f.beamWidth, "beam-width", 0.1, "burned track width, mm")
	fs.StringVar(&f.settings, "settings", "", "GRBL settings to override, e.g. 30=255,110=3000,130=300")
	fs.BoolVar(&f.homingLock, "homing-lock", false, "start in Alarm until $H or $X, as GRBL with $22=1")
	fs.StringVar(&f.id, "id", "qrmfg-sim", "machine id reported by $I")
	fs.StringVar(&f.image, "image", "", "write the burn image (PNG) to this file on exit")
	fs.IntVar(&f.faults.DropAfterLines, "drop-after", 0, "fault: close the connection after this many G-code lines")
	fs.IntVar(&f.faults.AlarmAtLine, "alarm-at", 0, "fault: raise ALARM:alarm-code at this G-code line")
	fs.IntVar(&f.faults.AlarmCode, "alarm-code", 1, "fault: the alarm raised at alarm-at")
	fs.IntVar(&f.faults.ErrorAtLine, "error-at", 0, "fault: answer error:error-code to this G-code line")
	fs.IntVar(&f.faults.ErrorCode, "error-code", 20, "fault: the error answered at error-at")
	fs.IntVar(&f.faults.ResetAtLine, "reset-at", 0, "fault: restart the controller (position lost) at this G-code line")
	fs.IntVar(&f.faults.DoorAtLine, "door-at", 0, "fault: open the safety door at this G-code line")
	fs.DurationVar(&f.faults.LineDelay, "line-delay", 0, "fault: slow consumer, wait this long before taking each line")
	fs.BoolVar(&f.faults.MuteStatus, "mute-status", false, "fault: never answer status queries")
}

func (f *simFlags) config() (grblsim.Config, error) {
	cfg := grblsim.Config{TimeScale: f.timeScale, Resolution: f.resolution, BeamWidth: f.beamWidth, HomingLock: f.homingLock,
		ID: f.id, Faults: f.faults}
	if !(f.timeScale > 0 && f.timeScale <= 1e6) {
		return cfg, qrmfg.FieldError("time-scale", "--time-scale must be above 0 and at most 1e6, got %g", f.timeScale)
	}
	if !(f.resolution > 0 && f.resolution <= 100) {
		return cfg, qrmfg.FieldError("resolution", "--resolution must be above 0 and at most 100 px/mm, got %g", f.resolution)
	}
	if !(f.beamWidth > 0 && f.beamWidth <= 5) {
		return cfg, qrmfg.FieldError("beam-width", "--beam-width must be above 0 and at most 5 mm, got %g", f.beamWidth)
	}
	if f.faults.AlarmAtLine == 0 {
		cfg.Faults.AlarmCode = 0
	}
	if f.faults.ErrorAtLine == 0 {
		cfg.Faults.ErrorCode = 0
	}
	if f.settings != "" {
		cfg.Settings = map[int]float64{}
		for _, kv := range strings.Split(f.settings, ",") {
			k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(kv), "$"), "=")
			n, err1 := strconv.Atoi(k)
			x, err2 := strconv.ParseFloat(v, 64)
			if !ok || err1 != nil || err2 != nil || n < 0 || x < 0 {
				return cfg, qrmfg.FieldError("settings", "--settings: %q is not N=VALUE", kv)
			}
			cfg.Settings[n] = x
		}
	}
	return cfg, nil
}

// simulate runs a GRBL simulator until ctx ends: `qrmfg sim`.
func (m *Main) simulate(ctx context.Context, f *simFlags) error {
	if len(m.args) > 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, "sim takes no arguments, got %q", strings.Join(m.args, " "))
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	sim, err := grblsim.New(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()
	if f.pty {
		p, err := grblsim.OpenPTY()
		if err != nil {
			return fmt.Errorf("open a pseudo-terminal: %w", err)
		}
		defer p.Close()
		fmt.Fprintf(m.Stdout, "GRBL simulator on serial://%s?baud=115200 (time scale %g)\n", p.SlavePath(), f.timeScale)
		// One client session: the pseudo-terminal closes when it ends.
		if err := sim.ServeConn(ctx, p); err != nil && ctx.Err() == nil {
			return fmt.Errorf("simulator: %w", err)
		}
		return m.writeSimImage(sim, f.image)
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	fmt.Fprintf(m.Stdout, "GRBL simulator on tcp://%s (time scale %g)\n", ln.Addr(), f.timeScale)
	m.addr <- ln.Addr()
	if err := sim.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		return fmt.Errorf("simulator: %w", err)
	}
	return m.writeSimImage(sim, f.image)
}

func (m *Main) writeSimImage(sim *grblsim.Sim, path string) error {
	if path == "" {
		return nil
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write the burn image: %w", err)
	}
	if err := png.Encode(out, sim.Image()); err != nil {
		_ = out.Close()
		return fmt.Errorf("write the burn image: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("write the burn image: %w", err)
	}
	fmt.Fprintf(m.Stdout, "burn image written to %s\n", path)
	return nil
}
