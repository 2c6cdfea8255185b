// Package generation turns allocated batches into codes: it asks the
// inventory for serials, builds each item's payload, encodes and renders the
// symbols in parallel, and packages them as JSON, a streamed ZIP, or a PDF
// label sheet. Batches too large to answer at once run in the background
// with progress.
package generation

import (
	"image/color"
	"strconv"
	"strings"

	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/render"
)

// Output formats of a batch.
const (
	FormatJSON = "json"
	FormatZIP  = "zip"
	FormatPDF  = "pdf"
	FormatCSV  = "csv"
)

// StyleRequest is how a client asks for a look; zero fields take defaults.
type StyleRequest struct {
	ModulePx   int     `json:"module_px,omitempty" doc:"Module side in pixels (PNG, SVG); default 10" example:"10"`
	QuietZone  *int    `json:"quiet_zone,omitempty" doc:"Light margin in modules; default 4 (ISO/IEC 18004 minimum)"`
	Foreground string  `json:"foreground,omitempty" doc:"Ink colour, #RRGGBB; default #000000" example:"#000000"`
	Background string  `json:"background,omitempty" doc:"Substrate colour, #RRGGBB; default #FFFFFF" example:"#FFFFFF"`
	Invert     bool    `json:"invert,omitempty" doc:"Light-on-dark: ink the light modules (marks on dark metal)"`
	ECLevel    string  `json:"ec_level,omitempty" doc:"Error correction L, M, Q or H; default M" example:"M"`
	DPI        int     `json:"dpi,omitempty" doc:"Physical resolution written into PNG files"`
	ModuleMM   float64 `json:"module_mm,omitempty" doc:"Physical module size in mm (SVG size, PDF labels)"`
	Sheet      string  `json:"sheet,omitempty" doc:"PDF label sheet preset: avery-l7651, avery-5160, a4-24, a4-4x4, letter-4x4; default a4-24"`
	Image      string  `json:"image,omitempty" doc:"Images in a ZIP: png (default), svg or both" enum:"png,svg,both,"`
}

// Spec is a validated recipe for a batch's codes. It is stored with the
// batch so downloads and single-item renders look the same later.
type Spec struct {
	Payload partid.Format `json:"payload"`
	// BaseURL is the base of url payloads: QRMFG_PAYLOAD_BASE_URL, or the
	// base of the request that generated the batch when it is not set.
	BaseURL string       `json:"base_url,omitempty"`
	Level   string       `json:"level"`
	Style   StyleRequest `json:"style"`
}

// compiled is a Spec resolved into the encoder's and renderer's types.
type compiled struct {
	payload  partid.Format
	payloads *partid.PayloadConfig // with the spec's base URL
	opts     qr.Options
	style    render.Style
	sheet    render.SheetLayout
	png      bool
	svg      bool
}

// compile validates a spec against the payload configuration; the error
// names the field at fault.
func (sp Spec) compile(pc *partid.PayloadConfig) (compiled, error) {
	var c compiled
	f, err := partid.ParseFormat(string(sp.Payload))
	if err != nil {
		return c, err
	}
	c.payload, c.payloads = f, pc
	if sp.BaseURL != "" && sp.BaseURL != pc.BaseURL {
		own := *pc
		own.BaseURL = sp.BaseURL
		c.payloads = &own
	}
	lv := sp.Style.ECLevel
	if lv == "" {
		lv = "M"
	}
	level, err := qr.ParseLevel(lv)
	if err != nil {
		return c, qrmfg.FieldError("style.ec_level", "ec_level %q: expected L, M, Q or H", sp.Style.ECLevel)
	}
	c.opts = qr.Options{Level: level}
	st := render.DefaultStyle()
	if sp.Style.ModulePx != 0 {
		st.ModulePx = sp.Style.ModulePx
	}
	if st.ModulePx > render.MaxImagePx {
		return c, qrmfg.FieldError("style.module_px", "module size %d px is larger than the largest image (%d px)", st.ModulePx, render.MaxImagePx)
	}
	if sp.Style.QuietZone != nil {
		st.QuietZone = *sp.Style.QuietZone
	}
	if sp.Style.Foreground != "" {
		if st.Foreground, err = parseColour("style.foreground", sp.Style.Foreground); err != nil {
			return c, err
		}
	}
	if sp.Style.Background != "" {
		if st.Background, err = parseColour("style.background", sp.Style.Background); err != nil {
			return c, err
		}
	}
	st.Invert, st.DPI, st.ModuleMM = sp.Style.Invert, sp.Style.DPI, sp.Style.ModuleMM
	if err := st.Validate(); err != nil {
		return c, styleField(err)
	}
	c.style = st
	sheet := sp.Style.Sheet
	if sheet == "" {
		sheet = render.A4x24.Name
	}
	if c.sheet, err = render.LookupSheetLayout(sheet); err != nil {
		return c, fieldAs(err, "style.sheet")
	}
	switch sp.Style.Image {
	case "", "png":
		c.png = true
	case "svg":
		c.svg = true
	case "both":
		c.png, c.svg = true, true
	default:
		return c, qrmfg.FieldError("style.image", "image %q: expected png, svg or both", sp.Style.Image)
	}
	return c, nil
}

// parseColour reads #RRGGBB (or RRGGBB).
func parseColour(field, s string) (color.RGBA, error) {
	h := strings.TrimPrefix(s, "#")
	if len(h) != 6 {
		return color.RGBA{}, qrmfg.FieldError(field, "colour %q: expected #RRGGBB", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return color.RGBA{}, qrmfg.FieldError(field, "colour %q: expected #RRGGBB", s)
	}
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}, nil
}

// styleField names a renderer's field as the request's style field.
func styleField(err error) error {
	if e := qrmfg.AsError(err); e != nil && e.Field != "" && !strings.HasPrefix(e.Field, "style.") {
		e.Field = "style." + e.Field
	}
	return err
}

// fieldAs names the request field of an error about a field the request
// does not have by that name.
func fieldAs(err error, field string) error {
	if e := qrmfg.AsError(err); e != nil && e.Field != "" {
		e.Field = field
	}
	return err
}
