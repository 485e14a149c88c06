package service

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"time"

	insightsv1 "atrium.dev/gen/atrium/insights/v1"
	"atrium.dev/gen/atrium/insights/v1/insightsv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/insights/internal/event"
	"atrium.dev/services/insights/internal/store"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits is the tenant's plan (platform/entitlements' Client has this method).
type Limits interface {
	Limit(ctx context.Context, tenantID, name string) (int64, error)
}

// Seats counts a tenant's seats (its members); nil or an error: the plan's "seats" limit.
type Seats func(ctx context.Context, tenantID string) (int64, error)

// Insights implements InsightsService.
type Insights struct {
	store    *store.Store
	producer *Producer
	limits   Limits
	seats    Seats
	now      func() time.Time
}

var _ insightsv1connect.InsightsServiceHandler = (*Insights)(nil)

// NewInsights returns the service. limits and seats may be nil.
func NewInsights(st *store.Store, p *Producer, limits Limits, seats Seats) *Insights {
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Insights{store: st, producer: p, limits: limits, seats: seats, now: p.Now}
}

const maxRangeDays = 400

// span resolves a request's range: default the last 30 days up to now.
func (s *Insights) span(r *insightsv1.TimeRange, defDays int) (time.Time, time.Time, error) {
	now := s.now().UTC()
	end := now
	if r.GetEndTime() != nil {
		end = r.GetEndTime().AsTime()
	}
	start := end.AddDate(0, 0, -defDays)
	if r.GetStartTime() != nil {
		start = r.GetStartTime().AsTime()
	}
	var vs rpcerr.Violations
	if !start.Before(end) {
		vs.Add("range.start_time", "must be before end_time")
	} else if end.Sub(start) > maxRangeDays*24*time.Hour {
		vs.Addf("range", "at most %d days", maxRangeDays)
	}
	return start, end, vs.Err()
}

func grouping(g insightsv1.Grouping) store.Grouping {
	switch g {
	case insightsv1.Grouping_GROUPING_HOUR:
		return store.ByHour
	case insightsv1.Grouping_GROUPING_WEEK:
		return store.ByWeek
	case insightsv1.Grouping_GROUPING_MONTH:
		return store.ByMonth
	}
	return store.ByDay
}

func tenantOf(ctx context.Context) string {
	id, _ := authn.FromContext(ctx)
	if id == nil {
		return ""
	}
	return id.TenantID
}

func (s *Insights) activeUsers(ctx context.Context, m *insightsv1.GetActiveUsersRequest) (*insightsv1.GetActiveUsersResponse, error) {
	start, end, err := s.span(m.GetRange(), 30)
	if err != nil {
		return nil, err
	}
	g := grouping(m.GetGrouping())
	if g == store.ByHour && end.Sub(start) > 31*24*time.Hour {
		return nil, rpcerr.InvalidField("grouping", "hourly series cover at most 31 days")
	}
	au, err := s.store.ActiveUsersQuery(ctx, start, end, g, m.GetIncludeApiTokens())
	if err != nil {
		return nil, err
	}
	out := &insightsv1.GetActiveUsersResponse{TotalUsers: au.Total}
	for _, p := range au.Points {
		out.Points = append(out.Points, &insightsv1.ActiveUsersPoint{Time: timestamppb.New(p.Time), ActiveUsers: p.Active, Wau: p.WAU, Mau: p.MAU})
	}
	tenant := tenantOf(ctx)
	if s.seats != nil {
		if n, err := s.seats(ctx, tenant); err == nil {
			out.Seats = n
		}
	}
	if out.Seats == 0 && s.limits != nil {
		if n, err := s.limits.Limit(ctx, tenant, "seats"); err == nil {
			out.Seats = n
		}
	}
	if out.Seats > 0 {
		out.Adoption = float64(au.MAUAtEnd) / float64(out.Seats)
	}
	month, events, dropped, err := s.store.Quota(ctx, s.now())
	if err != nil {
		return nil, err
	}
	q := &insightsv1.Quota{Month: timestamppb.New(month), Events: events, Dropped: dropped, Limit: -1}
	if s.limits != nil {
		if n, err := s.limits.Limit(ctx, tenant, "usage_events_per_month"); err == nil {
			q.Limit = n
		}
	}
	out.Quota = q
	return out, nil
}

func (s *Insights) GetActiveUsers(ctx context.Context, req *connect.Request[insightsv1.GetActiveUsersRequest]) (*connect.Response[insightsv1.GetActiveUsersResponse], error) {
	out, err := s.activeUsers(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

func (s *Insights) pluginAdoption(ctx context.Context, r *insightsv1.TimeRange) (*insightsv1.GetPluginAdoptionResponse, error) {
	start, end, err := s.span(r, 30)
	if err != nil {
		return nil, err
	}
	ps, total, err := s.store.PluginAdoption(ctx, start, end)
	if err != nil {
		return nil, err
	}
	out := &insightsv1.GetPluginAdoptionResponse{TotalUsers: total}
	for _, p := range ps {
		u := &insightsv1.PluginUsage{PluginId: p.Plugin, Users: p.Users, Calls: p.Calls, Errors: p.Errors}
		if total > 0 {
			u.Adoption = float64(p.Users) / float64(total)
		}
		out.Plugins = append(out.Plugins, u)
	}
	return out, nil
}

func (s *Insights) GetPluginAdoption(ctx context.Context, req *connect.Request[insightsv1.GetPluginAdoptionRequest]) (*connect.Response[insightsv1.GetPluginAdoptionResponse], error) {
	out, err := s.pluginAdoption(ctx, req.Msg.GetRange())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

func (s *Insights) top(ctx context.Context, dim int16, r *insightsv1.TimeRange, limit int32, def int, noResults bool) ([]*insightsv1.TopItem, error) {
	start, end, err := s.span(r, 30)
	if err != nil {
		return nil, err
	}
	switch {
	case limit < 0 || limit > 100:
		return nil, rpcerr.InvalidField("limit", "must be 0 to 100")
	case limit == 0:
		limit = int32(def)
	}
	items, err := s.store.Top(ctx, dim, start, end, int(limit), noResults)
	if err != nil {
		return nil, err
	}
	out := make([]*insightsv1.TopItem, len(items))
	for i, it := range items {
		out[i] = &insightsv1.TopItem{Key: it.Key, Count: it.Count}
		if dim == event.DimSearch {
			out[i].NoResults = it.NoResults
		}
	}
	return out, nil
}

func (s *Insights) GetTopEntities(ctx context.Context, req *connect.Request[insightsv1.GetTopEntitiesRequest]) (*connect.Response[insightsv1.GetTopEntitiesResponse], error) {
	items, err := s.top(ctx, event.DimEntity, req.Msg.GetRange(), req.Msg.GetLimit(), 10, false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&insightsv1.GetTopEntitiesResponse{Items: items}), nil
}

func (s *Insights) GetTopSearches(ctx context.Context, req *connect.Request[insightsv1.GetTopSearchesRequest]) (*connect.Response[insightsv1.GetTopSearchesResponse], error) {
	items, err := s.top(ctx, event.DimSearch, req.Msg.GetRange(), req.Msg.GetLimit(), 10, req.Msg.GetNoResultsOnly())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&insightsv1.GetTopSearchesResponse{Items: items}), nil
}

func (s *Insights) GetTopTemplates(ctx context.Context, req *connect.Request[insightsv1.GetTopTemplatesRequest]) (*connect.Response[insightsv1.GetTopTemplatesResponse], error) {
	items, err := s.top(ctx, event.DimTemplate, req.Msg.GetRange(), req.Msg.GetLimit(), 10, false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&insightsv1.GetTopTemplatesResponse{Items: items}), nil
}

func (s *Insights) GetTopDocs(ctx context.Context, req *connect.Request[insightsv1.GetTopDocsRequest]) (*connect.Response[insightsv1.GetTopDocsResponse], error) {
	items, err := s.top(ctx, event.DimDoc, req.Msg.GetRange(), req.Msg.GetLimit(), 10, false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&insightsv1.GetTopDocsResponse{Items: items}), nil
}

func (s *Insights) retention(ctx context.Context, r *insightsv1.TimeRange) (*insightsv1.GetRetentionResponse, error) {
	start, end, err := s.span(r, 7*8)
	if err != nil {
		return nil, err
	}
	if end.Sub(start) > 26*7*24*time.Hour {
		return nil, rpcerr.InvalidField("range", "at most 26 weeks")
	}
	cs, err := s.store.Retention(ctx, start, end, s.now())
	if err != nil {
		return nil, err
	}
	out := &insightsv1.GetRetentionResponse{}
	for _, c := range cs {
		out.Cohorts = append(out.Cohorts, &insightsv1.RetentionCohort{Week: timestamppb.New(c.Week), Users: c.Users, Active: c.Active})
	}
	return out, nil
}

func (s *Insights) GetRetention(ctx context.Context, req *connect.Request[insightsv1.GetRetentionRequest]) (*connect.Response[insightsv1.GetRetentionResponse], error) {
	out, err := s.retention(ctx, req.Msg.GetRange())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

// ExportCsv runs the named report through the same code as its query, as CSV.
func (s *Insights) ExportCsv(ctx context.Context, req *connect.Request[insightsv1.ExportCsvRequest]) (*connect.Response[insightsv1.ExportCsvResponse], error) {
	m := req.Msg
	start, end, err := s.span(m.GetRange(), 30)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	ts := func(t *timestamppb.Timestamp) string { return t.AsTime().UTC().Format(time.RFC3339) }
	name := ""
	limit := m.GetLimit()
	if limit == 0 {
		limit = 100
	}
	topRows := func(items []*insightsv1.TopItem, withNoResults bool) {
		h := []string{"key", "count"}
		if withNoResults {
			h = append(h, "no_results")
		}
		_ = w.Write(h)
		for _, it := range items {
			row := []string{it.GetKey(), i64(it.GetCount())}
			if withNoResults {
				row = append(row, i64(it.GetNoResults()))
			}
			_ = w.Write(row)
		}
	}
	switch m.GetReport() {
	case insightsv1.Report_REPORT_ACTIVE_USERS:
		name = "active-users"
		out, err := s.activeUsers(ctx, &insightsv1.GetActiveUsersRequest{Range: m.GetRange(), Grouping: m.GetGrouping()})
		if err != nil {
			return nil, err
		}
		_ = w.Write([]string{"time", "active_users", "wau", "mau"})
		for _, p := range out.GetPoints() {
			_ = w.Write([]string{ts(p.GetTime()), i64(p.GetActiveUsers()), i64(p.GetWau()), i64(p.GetMau())})
		}
	case insightsv1.Report_REPORT_PLUGIN_ADOPTION:
		name = "plugin-adoption"
		out, err := s.pluginAdoption(ctx, m.GetRange())
		if err != nil {
			return nil, err
		}
		_ = w.Write([]string{"plugin_id", "users", "calls", "errors", "adoption"})
		for _, p := range out.GetPlugins() {
			_ = w.Write([]string{p.GetPluginId(), i64(p.GetUsers()), i64(p.GetCalls()), i64(p.GetErrors()), strconv.FormatFloat(p.GetAdoption(), 'f', 4, 64)})
		}
	case insightsv1.Report_REPORT_TOP_ENTITIES, insightsv1.Report_REPORT_TOP_SEARCHES, insightsv1.Report_REPORT_TOP_TEMPLATES, insightsv1.Report_REPORT_TOP_DOCS:
		dim := map[insightsv1.Report]int16{
			insightsv1.Report_REPORT_TOP_ENTITIES: event.DimEntity, insightsv1.Report_REPORT_TOP_SEARCHES: event.DimSearch,
			insightsv1.Report_REPORT_TOP_TEMPLATES: event.DimTemplate, insightsv1.Report_REPORT_TOP_DOCS: event.DimDoc,
		}[m.GetReport()]
		name = map[int16]string{event.DimEntity: "top-entities", event.DimSearch: "top-searches", event.DimTemplate: "top-templates", event.DimDoc: "top-docs"}[dim]
		items, err := s.top(ctx, dim, m.GetRange(), limit, 100, m.GetNoResultsOnly())
		if err != nil {
			return nil, err
		}
		topRows(items, dim == event.DimSearch)
	case insightsv1.Report_REPORT_RETENTION:
		name = "retention"
		out, err := s.retention(ctx, m.GetRange())
		if err != nil {
			return nil, err
		}
		_ = w.Write([]string{"week", "users", "week_offset", "active"})
		for _, c := range out.GetCohorts() {
			for k, a := range c.GetActive() {
				_ = w.Write([]string{ts(c.GetWeek()), i64(c.GetUsers()), strconv.Itoa(k), i64(a)})
			}
		}
	default:
		return nil, rpcerr.InvalidField("report", "must name a report")
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&insightsv1.ExportCsvResponse{
		Filename: fmt.Sprintf("%s-%s-%s.csv", name, start.UTC().Format("20060102"), end.UTC().Format("20060102")),
		Content:  buf.String(),
	}), nil
}
