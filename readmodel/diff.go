package readmodel

import (
	"fmt"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
)

// ProjectDiff lists what changed in a project between two versions. Each
// change carries the event that caused it, and each list is oldest first.
type ProjectDiff struct {
	ProjectID   string
	FromVersion int
	ToVersion   int

	Answers         []AnswerChange
	StepsCompleted  []StepChange
	StepsReopened   []StepChange
	TestsRun        []TestRunChange
	TimeLogged      []TimeLoggedChange
	ContactsAdded   []ContactChange
	ContactsRemoved []ContactChange
	WaitingMarked   []WaitingChange
	WorkResumed     []WaitingChange
	StatusChanges   []StatusChange
}

// AnswerChange is an answer given or revised. Values of SECRET questions
// are masked.
type AnswerChange struct {
	Key      domain.AnswerKey
	OldValue string
	// HadOldValue is false for the first answer to the question.
	HadOldValue bool
	NewValue    string
	Event       eventstore.Envelope
}

// StepChange is a step completed or reopened.
type StepChange struct {
	StepID string
	// Reason is the reason for reopening; empty for a completion.
	Reason string
	Event  eventstore.Envelope
}

// TestRunChange is one recorded run of a test.
type TestRunChange struct {
	StepID string
	TestID string
	Passed bool
	Notes  string
	Event  eventstore.Envelope
}

// TimeLoggedChange is time logged on the project.
type TimeLoggedChange struct {
	Hours       float64
	Description string
	StepID      string
	Event       eventstore.Envelope
}

// ContactChange is a contact added or removed.
type ContactChange struct {
	Contact Contact
	Event   eventstore.Envelope
}

// WaitingChange is the start or the end of a wait on the customer. For the
// end, Reason is the reason of the wait that ended.
type WaitingChange struct {
	Reason string
	Event  eventstore.Envelope
}

// StatusChange is a change of the project's status.
type StatusChange struct {
	From domain.Status
	To   domain.Status
	// Reason is the cancellation reason; empty for other changes.
	Reason string
	Event  eventstore.Envelope
}

// DiffProject returns what changed in a project from version from to
// version to: the project is replayed up to from, and then every event
// after from up to and including to is compared with the state before it.
// events is the project's stream, oldest first, and 1 <= from <= to <=
// len(events).
func DiffProject(events []eventstore.Envelope, from, to int) (*ProjectDiff, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("diff: no events")
	}
	projectID := events[0].ProjectID
	if from < 1 || to < from || to > len(events) {
		return nil, fmt.Errorf("diff project %s: versions %d to %d are out of range 1 to %d", projectID, from, to, len(events))
	}
	s := newProjectState(projectID, 0)
	for _, env := range events[:from] {
		if err := s.apply(env); err != nil {
			return nil, err
		}
	}
	d := &ProjectDiff{ProjectID: projectID, FromVersion: from, ToVersion: to}
	for _, env := range events[from:to] {
		d.add(s, env)
		if err := s.apply(env); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// add records the change that env makes to s, the project right before it.
func (d *ProjectDiff) add(s *projectState, env eventstore.Envelope) {
	p := s.agg
	switch e := env.Event.(type) {
	case *domain.AnswerSubmitted:
		key := domain.AnswerKey{QuestionID: e.QuestionID, SystemID: e.SystemID}
		old, had := p.Answer(key)
		change := AnswerChange{Key: key, OldValue: old, HadOldValue: had, NewValue: e.Value, Event: env}
		if q, ok := p.Template().Question(e.QuestionID); ok && q.Kind == domain.KindSecret {
			// Erased values stay "[erased]"; a mask of them would read as a
			// secret ending in "sed]".
			if !e.Erased {
				change.NewValue = MaskSecret(change.NewValue)
			}
			if had && !p.AnswerErased(key) {
				change.OldValue = MaskSecret(change.OldValue)
			}
		}
		d.Answers = append(d.Answers, change)
	case *domain.StepCompleted:
		d.StepsCompleted = append(d.StepsCompleted, StepChange{StepID: e.StepID, Event: env})
	case *domain.StepReopened:
		d.StepsReopened = append(d.StepsReopened, StepChange{StepID: e.StepID, Reason: e.Reason, Event: env})
	case *domain.TestResultRecorded:
		d.TestsRun = append(d.TestsRun, TestRunChange{StepID: e.StepID, TestID: e.TestID, Passed: e.Passed, Notes: e.Notes, Event: env})
	case *domain.TimeLogged:
		d.TimeLogged = append(d.TimeLogged, TimeLoggedChange{Hours: e.Hours(), Description: e.Description, StepID: e.StepID, Event: env})
	case *domain.ContactAdded:
		c := Contact{ID: e.ContactID, Name: e.Name, Email: e.Email, Phone: e.Phone, Role: e.Role, AddedAt: OccurredAt(env), Erased: e.Erased}
		d.ContactsAdded = append(d.ContactsAdded, ContactChange{Contact: c, Event: env})
	case *domain.ContactRemoved:
		d.ContactsRemoved = append(d.ContactsRemoved, ContactChange{Contact: s.contact(e.ContactID), Event: env})
	case *domain.WaitingOnCustomerMarked:
		d.WaitingMarked = append(d.WaitingMarked, WaitingChange{Reason: e.Reason, Event: env})
	case *domain.WorkResumed:
		_, reason := p.Waiting()
		d.WorkResumed = append(d.WorkResumed, WaitingChange{Reason: reason, Event: env})
	case *domain.ProjectCompleted:
		d.StatusChanges = append(d.StatusChanges, StatusChange{From: p.Status(), To: domain.StatusCompleted, Event: env})
	case *domain.ProjectCancelled:
		d.StatusChanges = append(d.StatusChanges, StatusChange{From: p.Status(), To: domain.StatusCancelled, Reason: e.Reason, Event: env})
	}
}

// contact returns the project's contact with id, or a contact with only the
// id when the project has none.
func (s *projectState) contact(id string) Contact {
	for _, c := range s.agg.Contacts() {
		if c.ID == id {
			return Contact{ID: c.ID, Name: c.Name, Email: c.Email, Phone: c.Phone, Role: c.Role, AddedAt: s.contactAdded[c.ID], Erased: c.Erased}
		}
	}
	return Contact{ID: id}
}
