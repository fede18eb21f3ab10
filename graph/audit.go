package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/graph/model"
	"github.com/integrationplatform/onboarding/readmodel"
)

// MaxEventPage is the largest page of history and auditLog.
const MaxEventPage = 500

// MaxAuditScan is the largest number of events one auditLog request reads
// from the log, so that a filter that matches little cannot make a request
// read the whole log.
const MaxAuditScan = 50000

// auditBatch is the number of events auditLog reads from the store at a
// time.
const auditBatch = 1000

// errProjectNotFound marks a project whose stream has no events.
var errProjectNotFound = errors.New("project not found")

// projectEvents reads and decodes a project's whole stream. It returns an
// error wrapping errProjectNotFound when the stream has no events.
func (r *Resolver) projectEvents(ctx context.Context, projectID string) ([]eventstore.Envelope, error) {
	return r.projectEventsUpTo(ctx, projectID, 0)
}

// projectEventsUpTo reads and decodes the first limit events of a project's
// stream, or all of them when limit is 0.
func (r *Resolver) projectEventsUpTo(ctx context.Context, projectID string, limit int) ([]eventstore.Envelope, error) {
	records, err := r.Store.ReadStream(ctx, eventstore.StreamName(projectID), 0, limit)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, fmt.Errorf("read project %s: %w", projectID, errProjectNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read project %s: %w", projectID, err)
	}
	return readmodel.DecodeAll(ctx, r.Codec, records)
}

func projectNotFound(field, projectID string) error {
	return &domain.Error{Kind: domain.KindNotFound, Field: field, Message: fmt.Sprintf("project %q does not exist", projectID)}
}

func pageSize(first *int) (int, error) {
	n := 50
	if first != nil {
		n = *first
	}
	if n < 0 || n > MaxEventPage {
		return 0, &domain.Error{Kind: domain.KindInvalid, Field: "first", Message: fmt.Sprintf("first %d is out of range; send 0 to %d", n, MaxEventPage)}
	}
	return n, nil
}

func asOfPoint(in model.AsOfInput) readmodel.AsOf {
	return readmodel.AsOf{Version: in.Version, Time: in.Time}
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// projectAsOf returns the project at the point asOf, replayed from its
// stream, or nil when the project does not exist.
func (r *Resolver) projectAsOf(ctx context.Context, id string, asOf model.AsOfInput) (*readmodel.Project, error) {
	point := asOfPoint(asOf)
	if err := point.Validate("asOf"); err != nil {
		return nil, err
	}
	// A version the live view has reached needs only that many events read
	// and decoded; other points, and the error cases, need the whole stream.
	limit := 0
	if live, ok := r.Models.Project(id); ok && asOf.Version != nil && *asOf.Version >= 1 && *asOf.Version <= live.Version {
		limit = *asOf.Version
	}
	events, err := r.projectEventsUpTo(ctx, id, limit)
	if errors.Is(err, errProjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := readmodel.EventsAsOf(events, point, "asOf")
	if err != nil {
		return nil, err
	}
	return readmodel.Replay(events[:n])
}

// history returns a page of one project's events in stream order. Cursors
// are stream versions.
func (r *Resolver) history(ctx context.Context, projectID string, first *int, after *string, in *model.HistoryFilter) (*model.EventConnection, error) {
	n, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	var filter readmodel.EventFilter
	if in != nil {
		filter = readmodel.EventFilter{Types: in.Types, StepID: deref(in.StepID), From: timeOrZero(in.From), To: timeOrZero(in.To)}
	}
	if err := filter.Validate(); err != nil {
		return nil, err
	}
	start := 0
	if after != nil {
		version, err := strconv.Atoi(*after)
		if err != nil || version < 0 {
			return nil, &domain.Error{Kind: domain.KindInvalid, Field: "after", Message: fmt.Sprintf("cursor %q is not a history cursor; pass an edge's cursor or pageInfo.endCursor, which are streamVersions such as \"41\"", *after)}
		}
		start = version + 1
	}
	events, err := r.projectEvents(ctx, projectID)
	if errors.Is(err, errProjectNotFound) {
		return nil, projectNotFound("projectId", projectID)
	}
	if err != nil {
		return nil, err
	}

	var page []eventstore.Envelope
	total, hasPrevious, hasNext := 0, false, false
	for i, env := range events {
		if !filter.Match(env) {
			continue
		}
		total++
		switch {
		case i < start:
			hasPrevious = true
		case len(page) == n:
			hasNext = true
		default:
			page = append(page, env)
		}
	}
	conn := eventPage(page, func(env eventstore.Envelope) string { return strconv.FormatUint(env.Revision, 10) })
	conn.TotalCount = &total
	conn.PageInfo.HasPreviousPage = hasPrevious
	conn.PageInfo.HasNextPage = hasNext
	if selectsEdgeField(ctx, "projectAfter") && len(page) > 0 {
		versions := make([]int, len(page))
		for i, env := range page {
			versions[i] = int(env.Revision) + 1
		}
		views, err := readmodel.ReplayVersions(events, versions)
		if err != nil {
			return nil, err
		}
		for i, edge := range conn.Edges {
			edge.ProjectAfter = views[i]
		}
	}
	return conn, nil
}

// auditLog returns a page of the events of every project in $all order,
// reading at most MaxAuditScan events. Cursors are $all positions.
func (r *Resolver) auditLog(ctx context.Context, in *model.AuditFilter, first *int, after *string) (*model.EventConnection, error) {
	n, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	var filter readmodel.EventFilter
	if in != nil {
		filter = readmodel.EventFilter{Types: in.Types, ActorID: deref(in.Actor), ProjectID: deref(in.ProjectID), StepID: deref(in.StepID), From: timeOrZero(in.From), To: timeOrZero(in.To)}
	}
	if err := filter.Validate(); err != nil {
		return nil, err
	}
	position := eventstore.Start
	if after != nil {
		if position, err = eventstore.ParseCursor(*after); err != nil {
			return nil, &domain.Error{Kind: domain.KindInvalid, Field: "after", Message: err.Error()}
		}
	}

	scan, err := r.scanAll(ctx, position, n, filter, MaxAuditScan)
	if err != nil {
		return nil, err
	}
	conn := eventPage(scan.page, func(env eventstore.Envelope) string { return env.Position.Cursor() })
	// Relay allows hasPreviousPage to be false when paging forward, and
	// finding an earlier match would mean reading the log backwards.
	conn.PageInfo.HasNextPage = scan.hasNext || !scan.exhausted
	if !scan.hasNext && !scan.exhausted {
		end := scan.last.Cursor()
		conn.PageInfo.EndCursor = &end
	}
	if selectsEdgeField(ctx, "projectAfter") {
		if err := r.fillProjectsAfter(ctx, conn.Edges); err != nil {
			return nil, err
		}
	}
	return conn, nil
}

// auditScan is the outcome of one auditLog request's read of the log.
type auditScan struct {
	page []eventstore.Envelope
	// hasNext is true when a match after page was found.
	hasNext bool
	// exhausted is true when the scan reached the end of the log.
	exhausted bool
	// last is the position of the last event read.
	last eventstore.Position
}

// scanAll reads the log after position until it finds n matches and one
// more, reaches the end, or has read maxScan events. When the scan stops at
// maxScan exactly at the end of the log, exhausted stays false, so the next
// page comes back empty with hasNextPage false.
func (r *Resolver) scanAll(ctx context.Context, position eventstore.Position, n int, filter readmodel.EventFilter, maxScan int) (auditScan, error) {
	scan := auditScan{last: position}
	storeFilter := eventstore.Filter{StreamPrefix: eventstore.StreamPrefix}
	for scanned := 0; scanned < maxScan; {
		limit := min(auditBatch, maxScan-scanned)
		records, err := r.Store.ReadAll(ctx, scan.last, limit, storeFilter)
		if err != nil {
			return scan, fmt.Errorf("read the log after %s: %w", scan.last, err)
		}
		for _, rec := range records {
			scanned++
			scan.last = rec.Position
			if !filter.MatchRecord(rec) {
				continue
			}
			env, err := r.Codec.Decode(ctx, rec)
			if err != nil {
				return scan, err
			}
			if !filter.Match(env) {
				continue
			}
			if len(scan.page) == n {
				scan.hasNext = true
				return scan, nil
			}
			scan.page = append(scan.page, env)
		}
		if len(records) < limit {
			scan.exhausted = true
			return scan, nil
		}
	}
	return scan, nil
}

// fillProjectsAfter sets the project after each edge's event, reading each
// project's stream once, up to the latest event among the edges.
func (r *Resolver) fillProjectsAfter(ctx context.Context, edges []*model.EventEdge) error {
	byProject := map[string][]*model.EventEdge{}
	for _, edge := range edges {
		byProject[edge.Node.ProjectID] = append(byProject[edge.Node.ProjectID], edge)
	}
	for projectID, projectEdges := range byProject {
		versions := make([]int, len(projectEdges))
		for i, edge := range projectEdges {
			versions[i] = edge.Node.StreamVersion + 1
		}
		events, err := r.projectEventsUpTo(ctx, projectID, slices.Max(versions))
		if err != nil {
			return err
		}
		views, err := readmodel.ReplayVersions(events, versions)
		if err != nil {
			return err
		}
		for i, edge := range projectEdges {
			edge.ProjectAfter = views[i]
		}
	}
	return nil
}

// eventPage builds a connection of events with cursors made by cursor.
// The caller sets hasPreviousPage, hasNextPage and totalCount.
func eventPage(page []eventstore.Envelope, cursor func(eventstore.Envelope) string) *model.EventConnection {
	conn := &model.EventConnection{Edges: []*model.EventEdge{}, Nodes: []*model.ProjectEvent{}, PageInfo: &model.PageInfo{}}
	for _, env := range page {
		view := eventView(env)
		conn.Edges = append(conn.Edges, &model.EventEdge{Cursor: cursor(env), Node: view})
		conn.Nodes = append(conn.Nodes, view)
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn
}

// selectsEdgeField reports whether the request selects field on the edges
// of the connection that the current resolver returns.
func selectsEdgeField(ctx context.Context, field string) bool {
	opCtx := graphql.GetOperationContext(ctx)
	for _, edges := range graphql.CollectFieldsCtx(ctx, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, f := range graphql.CollectFields(opCtx, edges.Selections, nil) {
			if f.Name == field {
				return true
			}
		}
	}
	return false
}

// projectDiff returns what changed in a project between two points.
func (r *Resolver) projectDiff(ctx context.Context, id string, from, to model.AsOfInput) (*model.ProjectDiff, error) {
	fromPoint, toPoint := asOfPoint(from), asOfPoint(to)
	if err := fromPoint.Validate("from"); err != nil {
		return nil, err
	}
	if err := toPoint.Validate("to"); err != nil {
		return nil, err
	}

	events, err := r.projectEvents(ctx, id)
	if errors.Is(err, errProjectNotFound) {
		return nil, projectNotFound("id", id)
	}
	if err != nil {
		return nil, err
	}

	fromVersion, err := readmodel.EventsAsOf(events, fromPoint, "from")
	if err != nil {
		return nil, err
	}
	toVersion, err := readmodel.EventsAsOf(events, toPoint, "to")
	if err != nil {
		return nil, err
	}
	if fromVersion > toVersion {
		return nil, &domain.Error{Kind: domain.KindInvalid, Field: "from", Message: fmt.Sprintf("from is at version %d, after to at version %d; send a from at or before to", fromVersion, toVersion)}
	}

	d, err := readmodel.DiffProject(events, fromVersion, toVersion)
	if err != nil {
		return nil, err
	}
	return diffView(d), nil
}

// diffView turns a project diff into its API form.
func diffView(d *readmodel.ProjectDiff) *model.ProjectDiff {
	out := &model.ProjectDiff{
		ProjectID: d.ProjectID, FromVersion: d.FromVersion, ToVersion: d.ToVersion,
		Answers: []*model.AnswerChange{}, StepsCompleted: stepChanges(d.StepsCompleted), StepsReopened: stepChanges(d.StepsReopened),
		TestsRun: []*model.TestRunChange{}, TimeLogged: []*model.TimeLoggedChange{},
		ContactsAdded: contactChanges(d.ContactsAdded), ContactsRemoved: contactChanges(d.ContactsRemoved),
		WaitingMarked: waitingChanges(d.WaitingMarked), WorkResumed: waitingChanges(d.WorkResumed),
		StatusChanges: []*model.StatusChange{},
	}
	for _, a := range d.Answers {
		change := &model.AnswerChange{QuestionKey: a.Key.String(), QuestionID: a.Key.QuestionID, SystemID: optional(a.Key.SystemID), NewValue: a.NewValue, Event: eventView(a.Event)}
		if a.HadOldValue {
			old := a.OldValue
			change.OldValue = &old
		}
		out.Answers = append(out.Answers, change)
	}
	for _, t := range d.TestsRun {
		out.TestsRun = append(out.TestsRun, &model.TestRunChange{StepID: t.StepID, TestID: t.TestID, Passed: t.Passed, Notes: optional(t.Notes), Event: eventView(t.Event)})
	}
	for _, t := range d.TimeLogged {
		out.TimeLogged = append(out.TimeLogged, &model.TimeLoggedChange{Hours: t.Hours, Description: &t.Description, StepID: optional(t.StepID), Event: eventView(t.Event)})
	}
	for _, s := range d.StatusChanges {
		out.StatusChanges = append(out.StatusChanges, &model.StatusChange{From: s.From, To: s.To, Reason: optional(s.Reason), Event: eventView(s.Event)})
	}
	return out
}

func stepChanges(changes []readmodel.StepChange) []*model.StepChange {
	out := []*model.StepChange{}
	for _, s := range changes {
		out = append(out, &model.StepChange{StepID: s.StepID, Reason: optional(s.Reason), Event: eventView(s.Event)})
	}
	return out
}

func contactChanges(changes []readmodel.ContactChange) []*model.ContactChange {
	out := []*model.ContactChange{}
	for _, c := range changes {
		contact := c.Contact
		out = append(out, &model.ContactChange{Contact: &contact, Event: eventView(c.Event)})
	}
	return out
}

func waitingChanges(changes []readmodel.WaitingChange) []*model.WaitingChange {
	out := []*model.WaitingChange{}
	for _, w := range changes {
		out = append(out, &model.WaitingChange{Reason: w.Reason, Event: eventView(w.Event)})
	}
	return out
}

// optional returns nil for an empty string, for nullable fields.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
