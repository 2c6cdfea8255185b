package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/idempotency"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

type allocateInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes the request safe to retry: the same key and body return the first result"`
	Body           struct {
		ComponentType     string          `json:"component_type" minLength:"1" maxLength:"16" example:"PAD" doc:"Component type: A-Z and 0-9"`
		VendorCode        string          `json:"vendor_code" minLength:"1" maxLength:"16" example:"V0100"`
		LotNumber         string          `json:"lot_number" minLength:"1" maxLength:"32" example:"L2025-09" doc:"Lot: A-Z, 0-9 and single dashes"`
		Count             int             `json:"count" example:"100" doc:"Number of items to allocate"`
		ManufacturingDate string          `json:"manufacturing_date,omitempty" example:"2025-01-15" doc:"YYYY-MM-DD"`
		WarrantyYears     int             `json:"warranty_years,omitempty" example:"5"`
		Attributes        json.RawMessage `json:"attributes,omitempty" doc:"Free attributes (a JSON object) copied to every item"`
		Line              string          `json:"line,omitempty" maxLength:"64" doc:"Production line of the items; a caller restricted to lines must name one of them"`
	}
}

type batchOutput struct {
	Body inventory.Batch
}

type ItemsFilterInput struct {
	Status        string    `query:"status" doc:"Comma-separated statuses" example:"available"`
	ComponentType string    `query:"component_type"`
	VendorCode    string    `query:"vendor_code"`
	LotNumber     string    `query:"lot_number"`
	Location      string    `query:"location"`
	Line          string    `query:"line" maxLength:"64" doc:"Items of this production line"`
	UIDPrefix     string    `query:"uid_prefix" doc:"Items whose uid starts with this"`
	BatchID       string    `query:"batch_id"`
	ParentUID     string    `query:"parent_uid" doc:"Items installed directly in this assembly"`
	CreatedFrom   time.Time `query:"created_from" doc:"RFC 3339; inclusive"`
	CreatedTo     time.Time `query:"created_to" doc:"RFC 3339; exclusive"`
}

type listItemsInput struct {
	ItemsFilterInput
	pageQuery
	Sort   string `query:"sort" enum:"uid,created_at,updated_at,serial" default:"uid"`
	Order  string `query:"order" enum:"asc,desc" default:"asc"`
	Limit  int    `query:"limit" default:"50" doc:"Page size, 1 to 1000"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
	Total  bool   `query:"total" doc:"Also count every matching item"`
}

type listItemsOutput struct {
	Link string `header:"Link" doc:"rel=next link to the following page"`
	Body inventory.ItemPage
}

type UIDPath struct {
	UID string `path:"uid" example:"PAD-V0100-L2025-09-00001"`
}

type itemOutput struct {
	ETag string `header:"ETag"`
	Body inventory.Item
}

type itemDetailOutput struct {
	ETag string `header:"ETag"`
	Body inventory.ItemDetail
}

type updateItemInput struct {
	UIDPath
	Body struct {
		Location   *string         `json:"location,omitempty" maxLength:"200"`
		Attributes json.RawMessage `json:"attributes,omitempty" doc:"JSON merge patch of the attributes (null removes a key)"`
		Version    int64           `json:"version,omitempty" doc:"Expected version (optimistic concurrency)"`
		Reason     string          `json:"reason,omitempty" maxLength:"500"`
	}
}

type transitionInput struct {
	UIDPath
	Body struct {
		To      string `json:"to" example:"engraved" doc:"Target status"`
		Reason  string `json:"reason,omitempty" maxLength:"500"`
		Version int64  `json:"version,omitempty" doc:"Expected version (optimistic concurrency)"`
	}
}

type bulkTransitionInput struct {
	Body struct {
		UIDs          []string `json:"uids,omitempty" maxItems:"100000"`
		ComponentType string   `json:"component_type,omitempty"`
		VendorCode    string   `json:"vendor_code,omitempty"`
		LotNumber     string   `json:"lot_number,omitempty"`
		To            string   `json:"to" example:"available"`
		Reason        string   `json:"reason,omitempty" maxLength:"500"`
	}
}

type bulkOutput struct {
	Body inventory.BulkResult
}

type installInput struct {
	UIDPath
	Body struct {
		ParentUID string `json:"parent_uid" example:"ASM-V0100-L2025-09-00001"`
		Reason    string `json:"reason,omitempty" maxLength:"500"`
	}
}

type removeInput struct {
	UIDPath
	Body struct {
		Status string `json:"status,omitempty" default:"available" doc:"Status of the removed part"`
		Reason string `json:"reason,omitempty" maxLength:"500"`
	}
}

type upstreamOutput struct {
	Body *inventory.Node
}

type downstreamOutput struct {
	Body struct {
		Items []inventory.Item `json:"items" doc:"The assembly the item is in, then that assembly's assembly, up to the top"`
	}
}

type thresholdsOutput struct {
	Body struct {
		Thresholds []inventory.Threshold `json:"thresholds"`
	}
}

type thresholdInput struct {
	Type string `path:"component_type" example:"PAD"`
	Body struct {
		VendorCode   string `json:"vendor_code,omitempty" doc:"One vendor, or empty for all vendors together"`
		Line         string `json:"line,omitempty" maxLength:"64" doc:"The production line whose stock counts; empty: the whole plant (a caller restricted to one line: its line)"`
		MinAvailable int64  `json:"min_available" minimum:"0" example:"100"`
	}
}

type thresholdOutput struct {
	Body inventory.Threshold
}

type deleteThresholdInput struct {
	Type       string `path:"component_type"`
	VendorCode string `query:"vendor_code"`
	Line       string `query:"line" maxLength:"64" doc:"The threshold's line; empty: the whole plant (a caller restricted to one line: its line)"`
}

type alertsInput struct {
	State string `query:"state" enum:"open,acknowledged,resolved,"`
}

type alertsOutput struct {
	Body struct {
		Alerts []inventory.Alert `json:"alerts"`
	}
}

type IDPath struct {
	ID string `path:"id"`
}

type alertOutput struct {
	Body inventory.Alert
}

type analyticsInput struct {
	From time.Time `query:"from" doc:"Start of the per-day range (default: 30 days before to)"`
	To   time.Time `query:"to" doc:"End of the per-day range, exclusive (default: end of today)"`
}

type analyticsOutput struct {
	Body inventory.Analytics
}

type importInput struct {
	DryRun  bool   `query:"dry_run" doc:"Check every row and write nothing"`
	RawBody []byte `contentType:"text/csv"`
}

type importOutput struct {
	Body inventory.ImportReport
}

type statusesOutput struct {
	Body struct {
		Statuses    []inventory.Status                      `json:"statuses"`
		Transitions map[inventory.Status][]inventory.Status `json:"transitions"`
	}
}

func (f ItemsFilterInput) filter() (inventory.ItemFilter, error) {
	out := inventory.ItemFilter{ComponentType: f.ComponentType, VendorCode: f.VendorCode, LotNumber: f.LotNumber,
		Location: f.Location, Line: f.Line, UIDPrefix: f.UIDPrefix, BatchID: f.BatchID, ParentUID: f.ParentUID}
	if f.Status != "" {
		for _, s := range strings.Split(f.Status, ",") {
			st, err := inventory.ParseStatus(s)
			if err != nil {
				return out, err
			}
			out.Statuses = append(out.Statuses, st)
		}
	}
	if !f.CreatedFrom.IsZero() {
		t := f.CreatedFrom.UTC()
		out.CreatedFrom = &t
	}
	if !f.CreatedTo.IsZero() {
		t := f.CreatedTo.UTC()
		out.CreatedTo = &t
	}
	return out, nil
}

func etag(it inventory.Item) string {
	return `W/"` + it.UID + "-" + strconv.FormatInt(it.Version, 10) + `"`
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

// checkRetire asks for the void permission (supervisors and admins) when a
// transition would take items out of service for good.
func (s *Server) checkRetire(ctx context.Context, to string) error {
	switch inventory.Status(to) {
	case inventory.StatusVoid, inventory.StatusScrapped:
		return s.authorizeAlso(ctx, auth.OpInventoryVoid)
	}
	return nil
}

func (s *Server) registerInventory() {
	inv := s.svc.Inventory
	tags := []string{"inventory"}
	huma.Register(s.api, huma.Operation{OperationID: "allocate-batch", Method: http.MethodPost, Path: "/inventory/batches",
		Summary: "Allocate a batch of items", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "Reserves a contiguous range of serials in the lot and creates the items (status generated) in one transaction. " +
			"With Idempotency-Key, a retry with the same body returns the first result; another body is 422; a retry while the first runs is 409.",
		Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity}},
		func(ctx context.Context, in *allocateInput) (*batchOutput, error) {
			if err := s.spend(ctx, s.opt.Limits.Codes, "codes", in.Body.Count); err != nil {
				return nil, err
			}
			req := inventory.AllocateRequest{ComponentType: in.Body.ComponentType, VendorCode: in.Body.VendorCode,
				LotNumber: in.Body.LotNumber, Count: in.Body.Count, ManufacturingDate: in.Body.ManufacturingDate,
				WarrantyYears: in.Body.WarrantyYears, Attributes: in.Body.Attributes, Line: in.Body.Line}
			if in.IdempotencyKey == "" || s.svc.Idempotency == nil {
				b, err := inv.AllocateBatch(ctx, req)
				if err != nil {
					return nil, s.fail(ctx, err)
				}
				return &batchOutput{Body: b}, nil
			}
			if err := idempotency.ValidateKey(in.IdempotencyKey); err != nil {
				return nil, s.fail(ctx, err)
			}
			body, _ := json.Marshal(in.Body)
			actor := qrmfg.ActorFrom(ctx)
			claim, rec, err := s.svc.Idempotency.Claim(ctx, "inventory.batches:"+actor.ID, in.IdempotencyKey, idempotency.Hash(body), 2*time.Minute)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			if rec != nil {
				var b inventory.Batch
				if err := json.Unmarshal(rec.Response, &b); err != nil {
					return nil, s.fail(ctx, err)
				}
				return &batchOutput{Body: b}, nil
			}
			req.Claim = claim
			b, err := inv.AllocateBatch(ctx, req)
			if err != nil {
				_ = s.svc.Idempotency.Release(context.WithoutCancel(ctx), claim)
				return nil, s.fail(ctx, err)
			}
			return &batchOutput{Body: b}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-batch", Method: http.MethodGet, Path: "/inventory/batches/{id}",
		Summary: "Get a batch", Tags: tags},
		func(ctx context.Context, in *IDPath) (*batchOutput, error) {
			b, err := inv.GetBatch(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &batchOutput{Body: b}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-items", Method: http.MethodGet, Path: "/inventory/items",
		Summary: "List items", Tags: tags, Description: "Filters combine with AND. Pages are keyset cursors: pass next_cursor back with the same sort and order."},
		func(ctx context.Context, in *listItemsInput) (*listItemsOutput, error) {
			f, err := in.filter()
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			f.Sort, f.Desc, f.Limit, f.Cursor, f.WithTotal = inventory.SortField(in.Sort), in.Order == "desc", in.Limit, in.Cursor, in.Total
			if in.Limit == 0 {
				f.Limit = -1 // an explicit limit=0 is out of range, not "default"
			}
			page, err := inv.List(ctx, f)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &listItemsOutput{Body: page, Link: in.nextLink("cursor", page.NextCursor)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-item", Method: http.MethodGet, Path: "/inventory/items/{uid}",
		Summary: "Get an item with its history", Tags: tags},
		func(ctx context.Context, in *UIDPath) (*itemDetailOutput, error) {
			d, err := inv.Get(ctx, in.UID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &itemDetailOutput{ETag: etag(d.Item), Body: d}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-item", Method: http.MethodPatch, Path: "/inventory/items/{uid}",
		Summary: "Change an item's location or attributes", Tags: tags},
		func(ctx context.Context, in *updateItemInput) (*itemOutput, error) {
			it, err := inv.Update(ctx, in.UID, inventory.ItemUpdate{Location: in.Body.Location, Attributes: in.Body.Attributes,
				Version: in.Body.Version, Reason: in.Body.Reason})
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &itemOutput{ETag: etag(it), Body: it}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "transition-item", Method: http.MethodPost, Path: "/inventory/items/{uid}/transitions",
		Summary: "Move an item to another status", Tags: tags,
		Description: "A move the lifecycle forbids is 409 with the allowed next states in extra.allowed."},
		func(ctx context.Context, in *transitionInput) (*itemOutput, error) {
			if err := s.checkRetire(ctx, in.Body.To); err != nil {
				return nil, err
			}
			it, err := inv.Transition(ctx, inventory.TransitionRequest{UID: in.UID, To: inventory.Status(in.Body.To),
				Reason: in.Body.Reason, Version: in.Body.Version})
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &itemOutput{ETag: etag(it), Body: it}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "bulk-transition", Method: http.MethodPost, Path: "/inventory/transitions",
		Summary: "Move many items (by uids or a whole lot) to another status, all or nothing", Tags: tags},
		func(ctx context.Context, in *bulkTransitionInput) (*bulkOutput, error) {
			if err := s.checkRetire(ctx, in.Body.To); err != nil {
				return nil, err
			}
			res, err := inv.BulkTransition(ctx, inventory.BulkTransitionRequest{UIDs: in.Body.UIDs, ComponentType: in.Body.ComponentType,
				VendorCode: in.Body.VendorCode, LotNumber: in.Body.LotNumber, To: inventory.Status(in.Body.To), Reason: in.Body.Reason})
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &bulkOutput{Body: res}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "install-item", Method: http.MethodPost, Path: "/inventory/items/{uid}/install",
		Summary: "Install a part into an assembly", Tags: tags},
		func(ctx context.Context, in *installInput) (*itemOutput, error) {
			it, err := inv.Install(ctx, in.UID, in.Body.ParentUID, in.Body.Reason)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &itemOutput{ETag: etag(it), Body: it}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "remove-item", Method: http.MethodPost, Path: "/inventory/items/{uid}/remove",
		Summary: "Remove a part from its assembly", Tags: tags},
		func(ctx context.Context, in *removeInput) (*itemOutput, error) {
			it, err := inv.Remove(ctx, in.UID, inventory.Status(in.Body.Status), in.Body.Reason)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &itemOutput{ETag: etag(it), Body: it}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "item-upstream", Method: http.MethodGet, Path: "/inventory/items/{uid}/upstream",
		Summary: "What is in this item: the tree of installed parts", Tags: tags},
		func(ctx context.Context, in *UIDPath) (*upstreamOutput, error) {
			n, err := inv.Upstream(ctx, in.UID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &upstreamOutput{Body: n}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "item-downstream", Method: http.MethodGet, Path: "/inventory/items/{uid}/downstream",
		Summary: "Where this item is used: its assemblies up to the top", Tags: tags},
		func(ctx context.Context, in *UIDPath) (*downstreamOutput, error) {
			items, err := inv.Downstream(ctx, in.UID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &downstreamOutput{}
			out.Body.Items = items
			if out.Body.Items == nil {
				out.Body.Items = []inventory.Item{}
			}
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-thresholds", Method: http.MethodGet, Path: "/inventory/thresholds",
		Summary: "List stock thresholds", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*thresholdsOutput, error) {
			ths, err := inv.Thresholds(ctx)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &thresholdsOutput{}
			out.Body.Thresholds = ths
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "set-threshold", Method: http.MethodPut, Path: "/inventory/thresholds/{component_type}",
		Summary: "Set the least available stock wanted for a component type", Tags: tags},
		func(ctx context.Context, in *thresholdInput) (*thresholdOutput, error) {
			th, err := inv.SetThreshold(ctx, inventory.Threshold{ComponentType: in.Type, VendorCode: in.Body.VendorCode,
				Line: in.Body.Line, MinAvailable: in.Body.MinAvailable})
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &thresholdOutput{Body: th}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-threshold", Method: http.MethodDelete, Path: "/inventory/thresholds/{component_type}",
		Summary: "Remove a stock threshold", Tags: tags, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *deleteThresholdInput) (*struct{}, error) {
			if err := inv.DeleteThreshold(ctx, in.Type, in.VendorCode, in.Line); err != nil {
				return nil, s.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-alerts", Method: http.MethodGet, Path: "/inventory/alerts",
		Summary: "List low-stock alerts", Tags: tags},
		func(ctx context.Context, in *alertsInput) (*alertsOutput, error) {
			as, err := inv.Alerts(ctx, in.State)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &alertsOutput{}
			out.Body.Alerts = as
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "acknowledge-alert", Method: http.MethodPost, Path: "/inventory/alerts/{id}/acknowledge",
		Summary: "Acknowledge a low-stock alert", Tags: tags},
		func(ctx context.Context, in *IDPath) (*alertOutput, error) {
			a, err := inv.AcknowledgeAlert(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &alertOutput{Body: a}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "inventory-analytics", Method: http.MethodGet, Path: "/inventory/analytics",
		Summary: "Counts by status, type, vendor and lot; per-day flow; stock against thresholds", Tags: tags},
		func(ctx context.Context, in *analyticsInput) (*analyticsOutput, error) {
			a, err := inv.Analytics(ctx, in.From.UTC(), in.To.UTC())
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &analyticsOutput{Body: a}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "export-items", Method: http.MethodGet, Path: "/inventory/export.csv",
		Summary: "Export items as CSV (streamed, same filters as the listing)", Tags: tags},
		func(ctx context.Context, in *ItemsFilterInput) (*huma.StreamResponse, error) {
			f, err := in.filter()
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				hc.SetHeader("Content-Type", "text/csv; charset=utf-8")
				hc.SetHeader("Content-Disposition", `attachment; filename="items.csv"`)
				if err := inv.ExportCSV(ctx, f, hc.BodyWriter()); err != nil {
					s.log.Error("csv export failed mid-stream", "request_id", qrmfg.RequestID(ctx), "err", err)
				}
			}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "import-items", Method: http.MethodPost, Path: "/inventory/import",
		Summary: "Import items from CSV (all rows or none)", Tags: tags,
		Description: "The header names the columns (uid required). Every bad row is reported with its line and reason; nothing is written unless all rows are valid. dry_run=true only checks."},
		func(ctx context.Context, in *importInput) (*importOutput, error) {
			rep, err := inv.ImportCSV(ctx, strings.NewReader(string(in.RawBody)), in.DryRun)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			if len(rep.Errors) > 0 {
				p := newProblem(http.StatusUnprocessableEntity, qrmfg.EINVALID, "the CSV file has bad rows; nothing was imported")
				p.Instance = qrmfg.RequestID(ctx)
				p.Extra = map[string]any{"report": rep}
				for _, e := range rep.Errors {
					p.Errors = append(p.Errors, &huma.ErrorDetail{Location: "line " + formatInt(int64(e.Line)) + colSuffix(e.Column), Message: e.Reason})
				}
				return nil, p
			}
			return &importOutput{Body: rep}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "item-statuses", Method: http.MethodGet, Path: "/inventory/statuses",
		Summary: "The lifecycle: statuses and allowed transitions", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*statusesOutput, error) {
			out := &statusesOutput{}
			out.Body.Statuses, out.Body.Transitions = inventory.Statuses(), inventory.TransitionTable()
			return out, nil
		})
}

func colSuffix(c string) string {
	if c == "" {
		return ""
	}
	return ", " + c
}
