// Package domain holds the onboarding project aggregate, its commands and
// events, and the process template that defines phases, steps, questions
// and tests. It imports nothing outside the standard library.
package domain

import (
	"fmt"
	"strings"
)

// Status is the lifecycle state of a project.
type Status string

// Project statuses.
const (
	StatusActive    Status = "ACTIVE"
	StatusCompleted Status = "COMPLETED"
	StatusCancelled Status = "CANCELLED"
)

// AnswerKey names one asked question: the question id, plus the system id
// for questions asked once per connected system.
type AnswerKey struct {
	QuestionID string
	SystemID   string
}

// String formats k as "question" or "question@system".
func (k AnswerKey) String() string {
	if k.SystemID == "" {
		return k.QuestionID
	}
	return k.QuestionID + "@" + k.SystemID
}

// Contact is a person involved in a project.
type Contact struct {
	ID    string
	Name  string
	Email string
	Phone string
	Role  string
	// Erased is set, and Name, Email and Phone are ErasedValue, after the
	// project's personal data was erased.
	Erased bool
}

// Asked is one question as asked in a project: per-system questions are
// asked once for each matching system.
type Asked struct {
	Question *Question
	// System is nil for questions not asked per system.
	System *System
}

// Key returns the answer key of the asked question.
func (a Asked) Key() AnswerKey {
	if a.System == nil {
		return AnswerKey{QuestionID: a.Question.ID}
	}
	return AnswerKey{QuestionID: a.Question.ID, SystemID: a.System.ID}
}

// Project is the onboarding project aggregate. Its command methods check
// the rules and return new events; Apply only changes state.
type Project struct {
	id       string
	version  int
	template *Template
	start    ProjectStarted

	status        Status
	waiting       bool
	waitingReason string
	answers       map[AnswerKey]string
	// unreadable marks the answers whose values were erased with the
	// project's data key.
	unreadable    map[AnswerKey]bool
	completed     map[string]bool
	testPassed    map[string]bool
	contacts      []Contact
	loggedMinutes int
	erased        bool
}

// NewProject returns the state of a project with no events.
func NewProject(id string) *Project {
	return &Project{
		id:         id,
		answers:    map[AnswerKey]string{},
		unreadable: map[AnswerKey]bool{},
		completed:  map[string]bool{},
		testPassed: map[string]bool{},
	}
}

// ID returns the project id.
func (p *Project) ID() string { return p.id }

// Version returns the number of events applied.
func (p *Project) Version() int { return p.version }

// Started reports whether the project has been started.
func (p *Project) Started() bool { return p.version > 0 }

// Template returns the process template the project started on.
func (p *Project) Template() *Template { return p.template }

// Info returns the facts recorded when the project started.
func (p *Project) Info() ProjectStarted {
	info := p.start
	info.Systems = p.Systems()
	return info
}

// Systems returns the connected systems.
func (p *Project) Systems() []System { return append([]System(nil), p.start.Systems...) }

// Status returns the lifecycle state.
func (p *Project) Status() Status { return p.status }

// Waiting reports whether work waits on the customer, and why.
func (p *Project) Waiting() (bool, string) { return p.waiting, p.waitingReason }

// Answer returns the current answer to key.
func (p *Project) Answer(key AnswerKey) (string, bool) {
	v, ok := p.answers[key]
	return v, ok
}

// AnswerErased reports whether the current answer to key was erased with
// the project's data key.
func (p *Project) AnswerErased(key AnswerKey) bool { return p.unreadable[key] }

// StepCompleted reports whether the step is completed.
func (p *Project) StepCompleted(stepID string) bool { return p.completed[stepID] }

// TestPassed reports whether the latest run of the test passed.
func (p *Project) TestPassed(stepID, testID string) bool {
	return p.testPassed[stepID+"/"+testID]
}

// Erased reports whether the project's personal data was erased.
func (p *Project) Erased() bool { return p.erased }

// Contacts returns the project's contacts in the order they were added.
func (p *Project) Contacts() []Contact { return append([]Contact(nil), p.contacts...) }

// LoggedHours returns the hours logged so far.
func (p *Project) LoggedHours() float64 { return float64(p.loggedMinutes) / 60 }

// Applicable reports whether the step applies to this project.
func (p *Project) Applicable(s *Step) bool {
	switch s.Applicability {
	case WithSettlement:
		return p.start.UsesSettlement
	case WithOpenSourceShop:
		for _, sys := range p.start.Systems {
			if sys.OpenSourceShop() {
				return true
			}
		}
		return false
	default:
		return true
	}
}

// PhaseApplicable reports whether any step of the phase applies.
func (p *Project) PhaseApplicable(ph *Phase) bool {
	for _, s := range ph.Steps {
		if p.Applicable(s) {
			return true
		}
	}
	return false
}

// AskedQuestions returns the questions of the step as asked in this project.
func (p *Project) AskedQuestions(s *Step) []Asked {
	var asked []Asked
	for _, q := range s.Questions {
		if !q.PerSystem {
			asked = append(asked, Asked{Question: q})
			continue
		}
		for i := range p.start.Systems {
			if q.AsksSystem(p.start.Systems[i]) {
				asked = append(asked, Asked{Question: q, System: &p.start.Systems[i]})
			}
		}
	}
	return asked
}

// MissingForStep lists what the step still needs before it can complete.
// Items are "answer:<key>" for unanswered required questions,
// "confirmation:<key>" for confirmations not answered yes, "test:<id>" for
// tests that have not passed, and "contact" when the step needs a contact
// and the project has none.
func (p *Project) MissingForStep(s *Step) []string {
	var missing []string
	if s.RequiresContact && len(p.contacts) == 0 {
		missing = append(missing, "contact")
	}
	for _, a := range p.AskedQuestions(s) {
		v, ok := p.answers[a.Key()]
		switch {
		case a.Question.Kind == KindConfirmation && v != "true":
			missing = append(missing, "confirmation:"+a.Key().String())
		case a.Question.Required && !ok:
			missing = append(missing, "answer:"+a.Key().String())
		}
	}
	for _, t := range s.Tests {
		if !p.TestPassed(s.ID, t.ID) {
			missing = append(missing, "test:"+t.ID)
		}
	}
	return missing
}

// IncompleteBefore lists the applicable steps of phases before ph that are
// not completed.
func (p *Project) IncompleteBefore(ph *Phase) []string {
	var open []string
	for _, earlier := range p.template.Phases {
		if earlier == ph {
			break
		}
		for _, s := range earlier.Steps {
			if p.Applicable(s) && !p.completed[s.ID] {
				open = append(open, s.ID)
			}
		}
	}
	return open
}

// Questionnaire returns the required questions of the first phase that
// apply to this project, and how many of them are answered. A confirmation
// counts as answered only when it is yes.
func (p *Project) Questionnaire() (answered, required int, missing []string) {
	first := p.template.Phases[0]
	for _, s := range first.Steps {
		if !p.Applicable(s) {
			continue
		}
		for _, a := range p.AskedQuestions(s) {
			if !a.Question.Required {
				continue
			}
			required++
			v, ok := p.answers[a.Key()]
			if ok && (a.Question.Kind != KindConfirmation || v == "true") {
				answered++
				continue
			}
			missing = append(missing, a.Key().String())
		}
	}
	return answered, required, missing
}

// CurrentPhase returns the first applicable phase with an incomplete
// applicable step, or nil when every applicable step is completed.
func (p *Project) CurrentPhase() *Phase {
	for _, ph := range p.template.Phases {
		for _, s := range ph.Steps {
			if p.Applicable(s) && !p.completed[s.ID] {
				return ph
			}
		}
	}
	return nil
}

// Apply changes the state by one event without checking rules, because
// events are facts. It panics on an event type it does not handle, which
// only a programming error can cause: decoding rejects unknown types.
func (p *Project) Apply(e Event) {
	p.version++
	switch e := e.(type) {
	case *ProjectStarted:
		p.start = *e
		p.id = e.ProjectID
		p.status = StatusActive
		p.template, _ = LookupTemplate(e.TemplateVersion)
		if p.template == nil {
			p.template = CurrentTemplate()
		}
	case *AnswerSubmitted:
		key := AnswerKey{e.QuestionID, e.SystemID}
		p.answers[key] = e.Value
		p.unreadable[key] = e.Erased
	case *ContactAdded:
		p.contacts = append(p.contacts, Contact{ID: e.ContactID, Name: e.Name, Email: e.Email, Phone: e.Phone, Role: e.Role, Erased: e.Erased})
	case *ContactRemoved:
		for i, c := range p.contacts {
			if c.ID == e.ContactID {
				p.contacts = append(p.contacts[:i:i], p.contacts[i+1:]...)
				break
			}
		}
	case *StepCompleted:
		p.completed[e.StepID] = true
	case *StepReopened:
		// A reopened step needs its tests run again before it completes.
		delete(p.completed, e.StepID)
		for key := range p.testPassed {
			if strings.HasPrefix(key, e.StepID+"/") {
				delete(p.testPassed, key)
			}
		}
	case *TestResultRecorded:
		p.testPassed[e.StepID+"/"+e.TestID] = e.Passed
	case *TimeLogged:
		p.loggedMinutes += e.Minutes
	case *WaitingOnCustomerMarked:
		p.waiting, p.waitingReason = true, e.Reason
	case *WorkResumed:
		p.waiting, p.waitingReason = false, ""
	case *ProjectCompleted:
		p.status = StatusCompleted
		p.waiting, p.waitingReason = false, ""
	case *ProjectCancelled:
		p.status = StatusCancelled
		p.waiting, p.waitingReason = false, ""
	case *SecretRevealed:
	case *PersonalDataErased:
		p.erase()
	default:
		panic(fmt.Sprintf("domain: Apply got unknown event %T", e))
	}
}

// erase replaces the secret answers and contact details with ErasedValue,
// exactly as decoding their events without the data key does.
func (p *Project) erase() {
	p.erased = true
	for key := range p.answers {
		if q, ok := p.template.Question(key.QuestionID); ok && q.Kind == KindSecret {
			p.answers[key] = ErasedValue
			p.unreadable[key] = true
		}
	}
	for i := range p.contacts {
		c := ContactAdded{Name: p.contacts[i].Name, Email: p.contacts[i].Email, Phone: p.contacts[i].Phone}
		c.MarkErased()
		p.contacts[i].Name, p.contacts[i].Email, p.contacts[i].Phone, p.contacts[i].Erased = c.Name, c.Email, c.Phone, true
	}
}
