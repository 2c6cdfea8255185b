package httpapi

import (
	"net/url"

	"github.com/danielgtaylor/huma/v2"
)

// pageQuery keeps the query of a listing request, so that the Link to the
// next page repeats every filter of the request. A listing's input embeds
// it; huma fills it in before the handler runs.
type pageQuery struct {
	query url.Values
}

// Resolve implements huma.Resolver.
func (p *pageQuery) Resolve(ctx huma.Context) []error {
	u := ctx.URL()
	p.query = u.Query()
	return nil
}

// nextLink is the Link header of the page after this one: the request's
// query with only the cursor parameter set to cursor ("" on the last page).
func (p *pageQuery) nextLink(param, cursor string) string {
	if cursor == "" {
		return ""
	}
	q := url.Values{}
	for k, v := range p.query {
		q[k] = v
	}
	q.Set(param, cursor)
	return "<?" + q.Encode() + `>; rel="next"`
}
