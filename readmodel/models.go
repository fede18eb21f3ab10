// Package readmodel projects the event log into in-memory read models: the
// project views, the project list and the dashboard. It also runs the
// change feed that GraphQL subscriptions listen to.
package readmodel

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
)

// Models holds every read model. It is safe for concurrent use.
type Models struct {
	// mu guards projects, order, position and progress.
	mu       sync.RWMutex
	projects map[string]*projectState
	order    []*projectState
	position eventstore.Position
	// progress is closed and replaced each time position advances.
	progress chan struct{}

	feed *Feed
}

// NewModels returns empty read models.
func NewModels() *Models {
	m := &Models{projects: map[string]*projectState{}, progress: make(chan struct{}), feed: newFeed()}
	m.feed.models = m
	return m
}

// Feed returns the change feed.
func (m *Models) Feed() *Feed { return m.feed }

// Apply adds one decoded event to the read models and publishes the change.
// An event at or before the current position is ignored, so delivering an
// event twice is harmless. The change is published before the position
// advances, so a client that subscribes after its mutation returned never
// receives the mutation's own events.
func (m *Models) Apply(env eventstore.Envelope) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.position.Less(env.Position) && m.position != eventstore.Start {
		return nil
	}
	defer m.advanceLocked(env.Position)

	s, ok := m.projects[env.ProjectID]
	if !ok {
		if _, start := env.Event.(*domain.ProjectStarted); !start {
			return fmt.Errorf("project %s: first event %s is %s, not %s", env.ProjectID, env.EventID, env.Type, domain.TypeProjectStarted)
		}
		s = newProjectState(env.ProjectID, len(m.order))
	}
	if err := s.apply(env); err != nil {
		return err
	}
	if !ok {
		m.projects[env.ProjectID] = s
		m.order = append(m.order, s)
	}
	change := &Change{Envelope: env}
	if m.feed.wantsView(env.ProjectID) {
		change.Project = s.view()
	}
	m.feed.publish(change)
	return nil
}

// Replay builds a project view from the events of one project's stream,
// oldest first, with the same code as the live read model.
func Replay(events []eventstore.Envelope) (*Project, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("replay: no events")
	}
	s := newProjectState(events[0].ProjectID, 0)
	for _, env := range events {
		if err := s.apply(env); err != nil {
			return nil, err
		}
	}
	return s.view(), nil
}

// Skip advances the position past an event that could not be applied, so
// that waiters are not blocked by it.
func (m *Models) Skip(pos eventstore.Position) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.position.Less(pos) {
		m.advanceLocked(pos)
	}
}

func (m *Models) advanceLocked(pos eventstore.Position) {
	m.position = pos
	close(m.progress)
	m.progress = make(chan struct{})
}

// Position returns the position of the last applied event.
func (m *Models) Position() eventstore.Position {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.position
}

// WaitFor blocks until the read models have applied the event at pos, or
// ctx ends.
func (m *Models) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		m.mu.RLock()
		reached := !m.position.Less(pos)
		progress := m.progress
		m.mu.RUnlock()
		if reached {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("wait for read models to reach position %s: %w", pos, ctx.Err())
		}
	}
}

// Project returns a view of the project, or false when it does not exist.
func (m *Models) Project(id string) (*Project, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.projects[id]
	if !ok {
		return nil, false
	}
	return s.view(), true
}

// Secret returns the plain value of a secret answer as it was at the
// project version. It reports false when the project or the answer does not
// exist at that version, or the value was erased.
func (m *Models) Secret(projectID string, key domain.AnswerKey, version int) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.projects[projectID]
	if !ok {
		return "", false
	}
	return s.secret(key, version)
}

// ProjectCustomer returns the customer id of a project.
func (m *Models) ProjectCustomer(id string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.projects[id]
	if !ok {
		return "", false
	}
	return s.agg.Info().CustomerID, true
}

// ProjectFilter selects projects in List. Empty fields select everything.
type ProjectFilter struct {
	Status     domain.Status
	PhaseID    string
	CustomerID string
	// Waiting, when set, selects projects that do or do not wait on the
	// customer.
	Waiting *bool
}

func (f ProjectFilter) match(s *projectState) bool {
	p := s.agg
	if f.Status != "" && p.Status() != f.Status {
		return false
	}
	if f.CustomerID != "" && p.Info().CustomerID != f.CustomerID {
		return false
	}
	if f.Waiting != nil {
		if waiting, _ := p.Waiting(); waiting != *f.Waiting {
			return false
		}
	}
	if f.PhaseID != "" {
		ph := p.CurrentPhase()
		if ph == nil || ph.ID != f.PhaseID || p.Status() != domain.StatusActive {
			return false
		}
	}
	return true
}

// Page is one page of a project list.
type Page struct {
	Projects    []*Project
	Cursors     []string
	HasNext     bool
	HasPrevious bool
	TotalCount  int
}

// MaxPageSize is the largest page List returns.
const MaxPageSize = 100

// List returns up to first projects that match filter, in start order,
// after the project the cursor after points at.
func (m *Models) List(filter ProjectFilter, first int, after string) (*Page, error) {
	if first < 0 || first > MaxPageSize {
		return nil, &domain.Error{Kind: domain.KindInvalid, Field: "first", Message: fmt.Sprintf("first %d is out of range; send 0 to %d", first, MaxPageSize)}
	}
	if f := filter.PhaseID; f != "" && !knownPhase(f) {
		return nil, &domain.Error{Kind: domain.KindInvalid, Field: "phaseId", Message: fmt.Sprintf("phase %q does not exist; use one of %s", f, strings.Join(phaseIDs(), ", "))}
	}
	start := 0
	if after != "" {
		index, err := decodeCursor(after)
		if err != nil {
			return nil, err
		}
		start = index + 1
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	page := &Page{HasPrevious: start > 0}
	for i, s := range m.order {
		if !filter.match(s) {
			continue
		}
		page.TotalCount++
		if i < start {
			continue
		}
		if len(page.Projects) == first {
			page.HasNext = true
			continue
		}
		page.Projects = append(page.Projects, s.view())
		page.Cursors = append(page.Cursors, encodeCursor(i))
	}
	return page, nil
}

func phaseIDs() []string {
	var ids []string
	for _, ph := range domain.CurrentTemplate().Phases {
		ids = append(ids, ph.ID)
	}
	return ids
}

func knownPhase(id string) bool {
	for _, known := range phaseIDs() {
		if known == id {
			return true
		}
	}
	return false
}

const cursorPrefix = "project:"

func encodeCursor(index int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.Itoa(index)))
}

func decodeCursor(cursor string) (int, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(raw), cursorPrefix); ok {
			if index, err := strconv.Atoi(rest); err == nil && index >= 0 {
				return index, nil
			}
		}
	}
	return 0, &domain.Error{Kind: domain.KindInvalid, Field: "after", Message: fmt.Sprintf("cursor %q is not a project list cursor; pass a cursor from an earlier page's edges or pageInfo.endCursor", cursor)}
}

// Dashboard returns the summary of every project.
func (m *Models) Dashboard() *Dashboard { return m.DashboardFor("") }

// DashboardFor returns the summary of the projects of customerID, or of
// every project when customerID is empty.
func (m *Models) DashboardFor(customerID string) *Dashboard {
	m.mu.RLock()
	defer m.mu.RUnlock()
	d := &Dashboard{}
	statusCounts := map[domain.Status]int{}
	phaseCounts := map[string]int{}
	var leadTime time.Duration
	var completionSum float64
	active := 0
	for _, s := range m.order {
		p := s.agg
		info := p.Info()
		if customerID != "" && info.CustomerID != customerID {
			continue
		}
		d.TotalProjects++
		statusCounts[p.Status()]++
		d.EstimatedHours += info.EstimatedHours
		d.LoggedHours += p.LoggedHours()
		if s.updatedAt.After(d.UpdatedAt) {
			d.UpdatedAt = s.updatedAt
		}
		switch p.Status() {
		case domain.StatusCompleted:
			d.CompletedProjects++
			leadTime += s.completedAt.Sub(s.startedAt)
			continue
		case domain.StatusCancelled:
			continue
		}
		active++
		answered, required, missing := p.Questionnaire()
		completionSum += Questionnaire{Answered: answered, Required: required}.Completion()
		if ph := p.CurrentPhase(); ph != nil {
			phaseCounts[ph.ID]++
		}
		if waiting, reason := p.Waiting(); waiting {
			d.Waiting = append(d.Waiting, WaitingProject{ProjectID: p.ID(), ProjectName: info.Name, CustomerName: info.CustomerName,
				Since: s.waitingSince, Reason: reason, MissingAnswers: missing})
		}
	}
	for _, st := range []domain.Status{domain.StatusActive, domain.StatusCompleted, domain.StatusCancelled} {
		d.ByStatus = append(d.ByStatus, StatusCount{Status: st, Count: statusCounts[st]})
	}
	for _, ph := range domain.CurrentTemplate().Phases {
		d.ByPhase = append(d.ByPhase, PhaseCount{PhaseID: ph.ID, Title: ph.Title, Count: phaseCounts[ph.ID]})
	}
	sort.SliceStable(d.Waiting, func(i, j int) bool { return d.Waiting[i].Since.Before(d.Waiting[j].Since) })
	if active > 0 {
		d.QuestionnaireCompletion = completionSum / float64(active)
	}
	if d.CompletedProjects > 0 {
		hours := leadTime.Hours() / float64(d.CompletedProjects)
		d.AverageLeadTimeHours = &hours
	}
	return d
}
