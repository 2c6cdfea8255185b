package engraving

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/qrmfg/qrmfg/internal/engraving/gcode"
	"github.com/qrmfg/qrmfg/internal/engraving/grbl"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Preview sources.
const (
	PreviewBurned    = "burned"    // the simulated machine's image of what it burned
	PreviewSimulated = "simulated" // the program run offline through a simulator
)

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	e := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := e.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode preview: %w", err)
	}
	return buf.Bytes(), nil
}

// Preview returns a PNG of a job's burned area: what the simulated machine
// burned when the job ran on one, otherwise the job's program run offline
// through a simulator with the machine's settings (what it would burn).
// The image covers the job's footprint at 10 px/mm, white unburned.
func (s *Service) Preview(ctx context.Context, id string) ([]byte, string, error) {
	j, err := s.getJob(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if b, err := s.store.Preview(ctx, id); err == nil {
		return b, PreviewBurned, nil
	} else if qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
		return nil, "", err
	}
	m, err := s.jobMachine(ctx, &j)
	if err != nil {
		return nil, "", err
	}
	var settings map[string]float64
	if m != nil {
		settings = m.Settings
	}
	mc := machineFor(m)
	// The program, so the picture, depends on the job and on what the
	// generator takes of the machine.
	key := fmt.Sprintf("%s|%v", j.ID, mc)
	if b := s.previews.get(key); b != nil {
		return b, PreviewSimulated, nil
	}
	b, err := renderOffline(ctx, &j, settings, mc)
	if err != nil {
		return nil, "", err
	}
	s.previews.put(key, b)
	return b, PreviewSimulated, nil
}

// renderOffline streams j's program for machine mc into a private simulator
// with the controller settings of that machine, running as fast as it can,
// and returns its burn image of the footprint.
func renderOffline(ctx context.Context, j *Job, settings map[string]float64, mc gcode.Machine) ([]byte, error) {
	p, err := program(j, mc)
	if err != nil {
		return nil, err
	}
	simSettings := map[int]float64{}
	for k, v := range settings {
		if n, err := strconv.Atoi(strings.TrimPrefix(k, "$")); err == nil {
			simSettings[n] = v
		}
	}
	simSettings[32] = 1 // laser mode: the preview shows the laser's marks
	def := grblsim.DefaultSettings()
	simSettings[130] = max(def[130], simSettings[130], p.Bounds.MaxX+1)
	simSettings[131] = max(def[131], simSettings[131], p.Bounds.MaxY+1)
	simSettings[20], simSettings[21], simSettings[22] = 0, 0, 0 // no limits or homing lock offline
	sim, err := grblsim.New(grblsim.Config{Settings: simSettings, TimeScale: 1e6})
	if err != nil {
		return nil, fmt.Errorf("preview simulator: %w", err)
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("preview simulator: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = sim.Serve(sctx, ln) }()
	conn, err := grbl.Dial(sctx, "tcp://"+ln.Addr().String(), grbl.Options{})
	if err != nil {
		return nil, fmt.Errorf("preview simulator: %w", err)
	}
	defer conn.Close()
	if err := conn.Stream(sctx, p.Lines, nil); err != nil {
		return nil, fmt.Errorf("preview simulator: %w", err)
	}
	b := p.Bounds
	return encodePNG(sim.ImageRect(max(0, b.MinX), max(0, b.MinY), b.MaxX, b.MaxY))
}

// previewCache keeps the latest offline renders.
type previewCache struct {
	mu    sync.Mutex
	max   int
	order []string
	m     map[string][]byte
}

func newPreviewCache(n int) *previewCache { return &previewCache{max: n, m: map[string][]byte{}} }

func (c *previewCache) get(k string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *previewCache) put(k string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		c.order = append(c.order, k)
	}
	c.m[k] = b
	for len(c.order) > c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}
