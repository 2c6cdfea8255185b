package generation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/render"
)

// Rendered is one item's image.
type Rendered struct {
	Data        []byte
	ContentType string
	ETag        string
	Payload     string
}

// RenderItem draws one existing item as png, svg, pdf (a one-label sheet) or
// txt, with its batch's recipe unless style fields override it.
func (s *Service) RenderItem(ctx context.Context, uid, format string, override *StyleRequest) (*Rendered, error) {
	switch format {
	case "png", "svg", "pdf", "txt":
	default:
		return nil, qrmfg.FieldError("format", "image format %q: expected png, svg, pdf or txt", format)
	}
	id, err := partid.Parse(uid)
	if err != nil {
		return nil, err
	}
	it, err := s.inv.Get(ctx, uid)
	if err != nil {
		return nil, err
	}
	spec := Spec{Payload: partid.FormatUID}
	if it.BatchID != "" {
		if rec, err := s.store.GetRecord(ctx, it.BatchID); err == nil {
			spec = rec.Spec
		} else if qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			return nil, err
		}
	}
	if override != nil {
		spec.Style = mergeStyle(spec.Style, *override)
	}
	c, err := spec.compile(s.payloads)
	if err != nil {
		return nil, err
	}
	mfg, _ := time.Parse(time.DateOnly, it.ManufacturingDate)
	if err := s.check(c, "", id, mfg, 1); err != nil { // the payload and the image size
		return nil, err
	}
	payload, err := c.payloads.Encode(c.payload, id, mfg)
	if err != nil {
		return nil, err
	}
	specJSON, _ := json.Marshal(spec)
	h := sha256.Sum256(append(append([]byte(payload+"\x00"+format+"\x00"), specJSON...), renderVersion...))
	out := &Rendered{ETag: `"` + hex.EncodeToString(h[:12]) + `"`, Payload: payload}
	sym, err := qr.Encode(payload, c.opts)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch format {
	case "png":
		out.ContentType = "image/png"
		var e render.PNGEncoder
		out.Data, err = e.Append(nil, sym.Matrix, c.style)
	case "svg":
		out.ContentType = "image/svg+xml"
		var e render.SVGEncoder
		out.Data, err = e.Append(nil, sym.Matrix, c.style)
	case "txt":
		out.ContentType = "text/plain; charset=utf-8"
		err = render.Text(&buf, sym.Matrix, c.style)
		out.Data = buf.Bytes()
	case "pdf":
		out.ContentType = "application/pdf"
		var sheet *render.LabelSheet
		layout := render.SheetLayout{Name: "single", PageWidthMM: 50, PageHeightMM: 60, Cols: 1, Rows: 1,
			PitchXMM: 50, PitchYMM: 60, LabelWidthMM: 50, LabelHeightMM: 60}
		if sheet, err = render.NewLabelSheet(&buf, layout, c.style); err == nil {
			if err = sheet.Add(sym.Matrix, uid); err == nil {
				err = sheet.Close()
			}
		}
		out.Data = buf.Bytes()
	default:
		return nil, qrmfg.FieldError("format", "image format %q: expected png, svg, pdf or txt", format)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// renderVersion changes the ETags when the renderers' output changes.
const renderVersion = "r1"

func mergeStyle(base, o StyleRequest) StyleRequest {
	if o.ModulePx != 0 {
		base.ModulePx = o.ModulePx
	}
	if o.QuietZone != nil {
		base.QuietZone = o.QuietZone
	}
	if o.Foreground != "" {
		base.Foreground = o.Foreground
	}
	if o.Background != "" {
		base.Background = o.Background
	}
	if o.Invert {
		base.Invert = true
	}
	if o.ECLevel != "" {
		base.ECLevel = o.ECLevel
	}
	if o.DPI != 0 {
		base.DPI = o.DPI
	}
	if o.ModuleMM != 0 {
		base.ModuleMM = o.ModuleMM
	}
	return base
}
