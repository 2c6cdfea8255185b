package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// AuditFilterInput are the filters of the audit listing and export.
type AuditFilterInput struct {
	ActorID    string    `query:"actor_id" maxLength:"200" doc:"Only entries by this user, API key or address"`
	Action     string    `query:"action" maxLength:"100" doc:"An action, or a prefix ending in .* (auth.*)"`
	ObjectType string    `query:"object_type" maxLength:"50"`
	ObjectID   string    `query:"object_id" maxLength:"200"`
	Outcome    string    `query:"outcome" enum:"success,denied,failed,"`
	From       time.Time `query:"from" doc:"Entries at or after this time (RFC 3339)"`
	To         time.Time `query:"to" doc:"Entries before this time (RFC 3339)"`
}

func (in AuditFilterInput) filter() audit.Filter {
	return audit.Filter{ActorID: in.ActorID, Action: in.Action, ObjectType: in.ObjectType, ObjectID: in.ObjectID,
		Outcome: audit.Outcome(in.Outcome), Since: in.From, Until: in.To}
}

type auditListInput struct {
	AuditFilterInput
	After int64 `query:"after" minimum:"0" doc:"Cursor: entries after this seq (next_after of the previous page)"`
	Limit int   `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	pageQuery
}

type auditListOutput struct {
	Link string `header:"Link" doc:"rel=next link to the following page"`
	Body struct {
		Events    []audit.Entry `json:"events"`
		NextAfter int64         `json:"next_after,omitempty" doc:"Pass as after for the next page; absent on the last page"`
	}
}

type auditExportInput struct {
	AuditFilterInput
	Format string `query:"format" enum:"csv,json" default:"csv"`
}

// AuditBadRow is the first row that fails verification.
type AuditBadRow struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind" doc:"hash_mismatch, prev_link, inserted, seq_gap, head_mismatch, truncated, root_mismatch or bad_checkpoint"`
	Reason string `json:"reason"`
}

// AuditVerification is the answer of GET /audit/verify.
type AuditVerification struct {
	OK          bool         `json:"ok"`
	Entries     int64        `json:"entries" doc:"Rows walked"`
	Checkpoints int          `json:"checkpoints" doc:"Signed checkpoints the log was checked against"`
	FirstBad    *AuditBadRow `json:"first_bad,omitempty"`
}

type auditVerifyOutput struct{ Body AuditVerification }

type checkpointsOutput struct {
	Body struct {
		KeyID       string             `json:"key_id"`
		Checkpoints []audit.Checkpoint `json:"checkpoints"`
	}
}

type checkpointOutput struct{ Body audit.Checkpoint }

type publicKeyOutput struct {
	Body struct {
		KeyID     string `json:"key_id"`
		PublicKey string `json:"public_key" doc:"Ed25519 public key, base64: verifies exported checkpoints"`
	}
}

func (s *Server) registerAudit() {
	tags := []string{"audit"}
	lg := s.opt.Audit
	huma.Register(s.api, huma.Operation{OperationID: "list-audit-events", Method: http.MethodGet, Path: "/audit/events",
		Summary: "Audit entries, oldest first, filtered", Tags: tags},
		func(ctx context.Context, in *auditListInput) (*auditListOutput, error) {
			f := in.filter().ForReader(ctx)
			f.AfterSeq, f.Limit = in.After, in.Limit
			es, next, err := lg.List(ctx, f)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &auditListOutput{}
			out.Body.Events, out.Body.NextAfter = es, next
			if next > 0 {
				out.Link = in.nextLink("after", strconv.FormatInt(next, 10))
			}
			if out.Body.Events == nil {
				out.Body.Events = []audit.Entry{}
			}
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "export-audit-events", Method: http.MethodGet, Path: "/audit/export",
		Summary: "Export audit entries as CSV or JSON (streamed), for compliance", Tags: tags,
		Responses: map[string]*huma.Response{"200": binary("The entries", "text/csv", "application/json")}},
		func(ctx context.Context, in *auditExportInput) (*huma.StreamResponse, error) {
			f := in.filter().ForReader(ctx)
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				ct := "text/csv; charset=utf-8"
				if in.Format == "json" {
					ct = "application/json"
				}
				hc.SetHeader("Content-Type", ct)
				hc.SetHeader("Content-Disposition", `attachment; filename="audit.`+in.Format+`"`)
				if err := lg.Export(ctx, hc.BodyWriter(), f, in.Format); err != nil {
					s.log.Error("audit export failed mid-stream", "request_id", qrmfg.RequestID(ctx), "err", err)
				}
			}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "verify-audit", Method: http.MethodGet, Path: "/audit/verify",
		Summary: "Verify the audit chain and the stored signed checkpoints; names the first bad row", Tags: tags,
		Description: "A cut tail or a log recomputed from some row on is found only against a checkpoint kept outside the database: " +
			"export the checkpoints (GET /audit/checkpoints) and run `qrmfg audit verify --checkpoints FILE`."},
		func(ctx context.Context, _ *struct{}) (*auditVerifyOutput, error) {
			cps, err := lg.Checkpoints(ctx)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			rep, err := lg.VerifyAgainst(ctx, lg.PublicKey(), cps...)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &auditVerifyOutput{Body: AuditVerification{OK: rep.OK, Entries: rep.Entries, Checkpoints: len(cps)}}
			if rep.FirstBad != nil {
				out.Body.FirstBad = &AuditBadRow{Seq: rep.FirstBad.Seq, Kind: rep.FirstBad.Kind, Reason: rep.FirstBad.Reason}
			}
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-audit-checkpoints", Method: http.MethodGet, Path: "/audit/checkpoints",
		Summary: "The signed checkpoints (size, root hash, time), to keep outside this system", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*checkpointsOutput, error) {
			cps, err := lg.Checkpoints(ctx)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &checkpointsOutput{}
			out.Body.KeyID, out.Body.Checkpoints = audit.KeyID(lg.PublicKey()), cps
			if cps == nil {
				out.Body.Checkpoints = []audit.Checkpoint{}
			}
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "create-audit-checkpoint", Method: http.MethodPost, Path: "/audit/checkpoints",
		Summary: "Sign a checkpoint of the log as it is now", Tags: tags, DefaultStatus: http.StatusCreated},
		func(ctx context.Context, _ *struct{}) (*checkpointOutput, error) {
			c, err := lg.Checkpoint(ctx)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &checkpointOutput{Body: c}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "audit-public-key", Method: http.MethodGet, Path: "/audit/public-key",
		Summary: "The key that verifies the checkpoints", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*publicKeyOutput, error) {
			pub := lg.PublicKey()
			out := &publicKeyOutput{}
			out.Body.KeyID, out.Body.PublicKey = audit.KeyID(pub), base64.StdEncoding.EncodeToString(pub)
			return out, nil
		})
}
