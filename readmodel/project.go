package readmodel

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
)

// projectState is the read-side state of one project: the aggregate, which
// owns the rules, plus the history that views show.
type projectState struct {
	agg   *domain.Project
	index int
	// cached is the view of the current version, built on first use.
	// Readers build it under the models' read lock, so it is atomic.
	cached atomic.Pointer[Project]

	startedAt    time.Time
	startedBy    string
	updatedAt    time.Time
	completedAt  *time.Time
	cancelledAt  *time.Time
	cancelReason string
	waitingSince time.Time
	contactAdded map[string]time.Time
	completedOn  map[string]time.Time
	reopenings   map[string][]Reopening
	answers      map[domain.AnswerKey][]Answer
	testRuns     map[string][]TestAttempt
	timeEntries  []TimeEntry
	erasure      *Erasure
}

func newProjectState(id string, index int) *projectState {
	return &projectState{
		agg:          domain.NewProject(id),
		index:        index,
		contactAdded: map[string]time.Time{},
		completedOn:  map[string]time.Time{},
		reopenings:   map[string][]Reopening{},
		answers:      map[domain.AnswerKey][]Answer{},
		testRuns:     map[string][]TestAttempt{},
	}
}

// apply adds one event to the project. It rejects an event whose revision
// does not follow the project's version, so a replayed or out-of-order event
// cannot corrupt the view.
func (s *projectState) apply(env eventstore.Envelope) error {
	if int(env.Revision) != s.agg.Version() {
		return fmt.Errorf("project %s: event %s has revision %d, expected %d", env.ProjectID, env.EventID, env.Revision, s.agg.Version())
	}
	if _, start := env.Event.(*domain.ProjectStarted); start != (s.agg.Version() == 0) {
		return fmt.Errorf("project %s: %s event at revision %d is out of place", env.ProjectID, env.Type, env.Revision)
	}
	s.agg.Apply(env.Event)
	s.cached.Store(nil)
	version := s.agg.Version()
	at := env.Metadata.OccurredAt
	if at.IsZero() {
		at = env.RecordedAt
	}
	by := env.Metadata.Actor.UserID
	s.updatedAt = at

	switch e := env.Event.(type) {
	case *domain.ProjectStarted:
		s.startedAt, s.startedBy = at, by
	case *domain.AnswerSubmitted:
		key := domain.AnswerKey{QuestionID: e.QuestionID, SystemID: e.SystemID}
		s.answers[key] = append(s.answers[key], Answer{Value: e.Value, Erased: e.Erased, Version: version, SubmittedAt: at, SubmittedBy: by})
	case *domain.ContactAdded:
		s.contactAdded[e.ContactID] = at
	case *domain.StepCompleted:
		s.completedOn[e.StepID] = at
	case *domain.StepReopened:
		delete(s.completedOn, e.StepID)
		s.reopenings[e.StepID] = append(s.reopenings[e.StepID], Reopening{Reason: e.Reason, ReopenedAt: at, ReopenedBy: by, Version: version})
	case *domain.TestResultRecorded:
		key := e.StepID + "/" + e.TestID
		s.testRuns[key] = append(s.testRuns[key], TestAttempt{Passed: e.Passed, Notes: e.Notes, RecordedAt: at, RecordedBy: by, Version: version})
	case *domain.TimeLogged:
		s.timeEntries = append(s.timeEntries, TimeEntry{Hours: e.Hours(), Minutes: e.Minutes, Description: e.Description, StepID: e.StepID, LoggedAt: at, LoggedBy: by, Version: version})
	case *domain.WaitingOnCustomerMarked:
		s.waitingSince = at
	case *domain.ProjectCompleted:
		s.completedAt = &at
	case *domain.ProjectCancelled:
		s.cancelledAt, s.cancelReason = &at, e.Reason
	case *domain.PersonalDataErased:
		s.erase()
		s.erasure = &Erasure{Reason: e.Reason, ErasedAt: at, ErasedBy: by, Version: version}
	}
	return nil
}

// erase replaces every revision of every secret answer with ErasedValue,
// as decoding their events without the data key does.
func (s *projectState) erase() {
	for key, revisions := range s.answers {
		q, ok := s.agg.Template().Question(key.QuestionID)
		if !ok || q.Kind != domain.KindSecret {
			continue
		}
		for i := range revisions {
			revisions[i].Value, revisions[i].Erased = domain.ErasedValue, true
		}
	}
}

// secret returns the plain value of a secret answer that was current at
// the project version.
func (s *projectState) secret(key domain.AnswerKey, version int) (string, bool) {
	revisions := s.answers[key]
	for i := len(revisions) - 1; i >= 0; i-- {
		if revisions[i].Version <= version {
			return revisions[i].Value, !revisions[i].Erased
		}
	}
	return "", false
}

// MaskSecret hides all but the last four characters of a secret, and all of
// a secret shorter than eight characters.
func MaskSecret(v string) string {
	r := []rune(v)
	if len(r) < 8 {
		return "••••"
	}
	return "••••" + string(r[len(r)-4:])
}

func systemView(sys domain.System) System {
	return System{ID: sys.ID, Name: sys.Name, Platform: string(sys.Platform), Category: sys.Category(), OpenSourceShop: sys.OpenSourceShop()}
}

// view returns a snapshot of the project, shared by every caller until the
// next event.
func (s *projectState) view() *Project {
	if v := s.cached.Load(); v != nil {
		return v
	}
	v := s.buildView()
	s.cached.Store(v)
	return v
}

func (s *projectState) buildView() *Project {
	p := s.agg
	info := p.Info()
	v := &Project{
		ID: p.ID(), Name: info.Name, CustomerID: info.CustomerID, CustomerName: info.CustomerName,
		Status: p.Status(), Version: p.Version(), TemplateVersion: info.TemplateVersion,
		UsesSettlement: info.UsesSettlement, PreviousProjectID: info.PreviousProjectID,
		EstimatedHours: info.EstimatedHours, LoggedHours: p.LoggedHours(),
		TimeEntries: append([]TimeEntry(nil), s.timeEntries...),
		StartedAt:   s.startedAt, UpdatedAt: s.updatedAt, StartedBy: s.startedBy, Erasure: s.erasure,
		CompletedAt: s.completedAt, CancelledAt: s.cancelledAt, CancellationReason: s.cancelReason,
	}
	for _, sys := range p.Systems() {
		v.Systems = append(v.Systems, systemView(sys))
	}
	for _, c := range p.Contacts() {
		v.Contacts = append(v.Contacts, Contact{ID: c.ID, Name: c.Name, Email: c.Email, Phone: c.Phone, Role: c.Role, AddedAt: s.contactAdded[c.ID], Erased: c.Erased})
	}
	answered, required, missing := p.Questionnaire()
	v.Questionnaire = Questionnaire{Answered: answered, Required: required, Missing: missing}
	v.ReadyForConfiguration = answered == required
	if waiting, reason := p.Waiting(); waiting {
		v.Waiting = &Waiting{Since: s.waitingSince, Reason: reason, MissingAnswers: missing}
	}
	if ph := p.CurrentPhase(); ph != nil && p.Status() == domain.StatusActive {
		v.CurrentPhaseID = ph.ID
	}
	for _, ph := range p.Template().Phases {
		v.Phases = append(v.Phases, s.phaseView(ph))
	}
	return v
}

func (s *projectState) phaseView(ph *domain.Phase) Phase {
	view := Phase{ID: ph.ID, Number: ph.Number, Title: ph.Title, Applicable: s.agg.PhaseApplicable(ph)}
	completed, applicable, touched := 0, 0, false
	for _, st := range ph.Steps {
		sv := s.stepView(st)
		if sv.Applicable {
			applicable++
		}
		if sv.State == StateCompleted {
			completed++
		}
		if sv.State == StateCompleted || sv.State == StateInProgress {
			touched = true
		}
		view.Steps = append(view.Steps, sv)
	}
	switch {
	case applicable == 0:
		view.State = StateNotApplicable
	case completed == applicable:
		view.State = StateCompleted
	case touched:
		view.State = StateInProgress
	default:
		view.State = StateOpen
	}
	return view
}

func (s *projectState) stepView(st *domain.Step) Step {
	p := s.agg
	view := Step{ID: st.ID, PhaseID: st.Phase.ID, Title: st.Title, Description: st.Description, Applicable: p.Applicable(st)}
	lastReopened := 0
	if rs := s.reopenings[st.ID]; len(rs) > 0 {
		view.Reopenings = append([]Reopening(nil), rs...)
		lastReopened = rs[len(rs)-1].Version
	}
	started := false
	for _, a := range p.AskedQuestions(st) {
		q := s.questionView(a)
		started = started || q.Answer != nil
		view.Questions = append(view.Questions, q)
	}
	for _, t := range st.Tests {
		tv := Test{ID: t.ID, Title: t.Title, Description: t.Description, State: TestNotRun}
		if runs := s.testRuns[st.ID+"/"+t.ID]; len(runs) > 0 {
			tv.Attempts = append([]TestAttempt(nil), runs...)
			started = true
			// Runs before the step's last reopening no longer count.
			if last := runs[len(runs)-1]; last.Version > lastReopened {
				tv.State = TestFailed
				if last.Passed {
					tv.State = TestPassed
				}
			}
		}
		view.Tests = append(view.Tests, tv)
	}
	switch {
	case !view.Applicable:
		view.State = StateNotApplicable
	case p.StepCompleted(st.ID):
		view.State = StateCompleted
		at := s.completedOn[st.ID]
		view.CompletedAt = &at
	case started:
		view.State = StateInProgress
		view.Missing = p.MissingForStep(st)
	default:
		view.State = StateOpen
		view.Missing = p.MissingForStep(st)
	}
	return view
}

func (s *projectState) questionView(a domain.Asked) Question {
	q := a.Question
	view := Question{ID: q.ID, Key: a.Key().String(), Text: q.Text, Kind: q.Kind, Required: q.Required, Options: q.Options}
	if a.System != nil {
		sys := systemView(*a.System)
		view.System = &sys
	}
	for _, ans := range s.answers[a.Key()] {
		if q.Kind == domain.KindSecret && !ans.Erased {
			ans.Value = MaskSecret(ans.Value)
		}
		view.Revisions = append(view.Revisions, ans)
	}
	if n := len(view.Revisions); n > 0 {
		current := view.Revisions[n-1]
		view.Answer = &current
	}
	return view
}
