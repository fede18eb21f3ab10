package domain

import "fmt"

// Event is a fact about a project. Type names and schema versions are part
// of the stored format: a Go type may be renamed, its Type value never.
type Event interface {
	// EventType returns the stable type name stored with the event.
	EventType() string
	// SchemaVersion returns the version of the event's JSON shape.
	SchemaVersion() int
}

// Stable event type names.
const (
	TypeProjectStarted          = "ProjectStarted"
	TypeAnswerSubmitted         = "AnswerSubmitted"
	TypeContactAdded            = "ContactAdded"
	TypeContactRemoved          = "ContactRemoved"
	TypeStepCompleted           = "StepCompleted"
	TypeStepReopened            = "StepReopened"
	TypeTestResultRecorded      = "TestResultRecorded"
	TypeTimeLogged              = "TimeLogged"
	TypeWaitingOnCustomerMarked = "WaitingOnCustomerMarked"
	TypeWorkResumed             = "WorkResumed"
	TypeProjectCompleted        = "ProjectCompleted"
	TypeProjectCancelled        = "ProjectCancelled"
	TypeSecretRevealed          = "SecretRevealed"
	TypePersonalDataErased      = "PersonalDataErased"
)

// ProjectStarted opens an onboarding project.
type ProjectStarted struct {
	ProjectID       string   `json:"projectId"`
	CustomerID      string   `json:"customerId"`
	CustomerName    string   `json:"customerName"`
	Name            string   `json:"name"`
	TemplateVersion int      `json:"templateVersion"`
	Systems         []System `json:"systems"`
	UsesSettlement  bool     `json:"usesSettlement"`
	EstimatedHours  float64  `json:"estimatedHours"`
	// PreviousProjectID links an additional project to the customer's
	// earlier one; empty for a customer's first project.
	PreviousProjectID string `json:"previousProjectId,omitempty"`
}

// AnswerSubmitted records an answer, or a revision of one. Value is in the
// canonical form of the question's kind.
type AnswerSubmitted struct {
	QuestionID string `json:"questionId"`
	// SystemID is set for questions asked once per connected system.
	SystemID string `json:"systemId,omitempty"`
	Value    string `json:"value"`
	// Secret marks the answer to a SECRET question, whose value the event
	// store seals with the project's data key.
	Secret bool `json:"secret,omitempty"`
	// Erased is set, and Value is ErasedValue, when Secret is true and the
	// project's data key was destroyed. It is not stored.
	Erased bool `json:"-"`
}

// ContactAdded records a person involved in the project.
type ContactAdded struct {
	ContactID string `json:"contactId"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Phone     string `json:"phone,omitempty"`
	Role      string `json:"role,omitempty"`
	// Erased is set, and Name, Email and Phone are ErasedValue, when the
	// project's data key was destroyed. It is not stored.
	Erased bool `json:"-"`
}

// ContactRemoved removes a contact.
type ContactRemoved struct {
	ContactID string `json:"contactId"`
}

// StepCompleted marks a step done.
type StepCompleted struct {
	StepID string `json:"stepId"`
}

// StepReopened reopens a completed step.
type StepReopened struct {
	StepID string `json:"stepId"`
	Reason string `json:"reason"`
}

// TestResultRecorded records one run of a test. The latest run counts.
type TestResultRecorded struct {
	StepID string `json:"stepId"`
	TestID string `json:"testId"`
	Passed bool   `json:"passed"`
	Notes  string `json:"notes,omitempty"`
}

// TimeLogged records time worked on the project. Schema version 2 stores
// whole minutes, because sums of fractional hours in floating point drift;
// version 1 stored fractional hours in "hours".
type TimeLogged struct {
	Minutes     int    `json:"minutes"`
	Description string `json:"description"`
	// StepID is the step the time was spent on, if any.
	StepID string `json:"stepId,omitempty"`
}

// Hours returns the logged time in hours.
func (e *TimeLogged) Hours() float64 { return float64(e.Minutes) / 60 }

// WaitingOnCustomerMarked records that work waits for the customer.
type WaitingOnCustomerMarked struct {
	Reason string `json:"reason"`
}

// WorkResumed ends a wait on the customer.
type WorkResumed struct{}

// ProjectCompleted records the handover to Support & Service.
type ProjectCompleted struct{}

// ProjectCancelled ends the project without completing it.
type ProjectCancelled struct {
	Reason string `json:"reason"`
}

// SecretRevealed records that a user read the plain value of a secret
// answer. The value itself is not in the event.
type SecretRevealed struct {
	QuestionID string `json:"questionId"`
	SystemID   string `json:"systemId,omitempty"`
	// Version is the project version whose answer was revealed.
	Version int `json:"version"`
}

// PersonalDataErased records that the project's data key was destroyed, so
// its secret answers and contact details can no longer be read.
type PersonalDataErased struct {
	Reason string `json:"reason"`
}

// ErasedValue replaces a secret or personal value whose data key was
// destroyed.
const ErasedValue = "[erased]"

// PersonalData is implemented by events that carry secrets or personal data,
// which the event store seals before they are written.
type PersonalData interface {
	Event
	// PersonalFields returns the fields to seal. It returns none for an
	// event that carries nothing to seal.
	PersonalFields() []*string
	// MarkErased replaces every personal field with ErasedValue.
	MarkErased()
}

// PersonalFields implements PersonalData: the value of a secret answer.
func (e *AnswerSubmitted) PersonalFields() []*string {
	if !e.Secret {
		return nil
	}
	return []*string{&e.Value}
}

// MarkErased implements PersonalData.
func (e *AnswerSubmitted) MarkErased() {
	if e.Secret {
		e.Value, e.Erased = ErasedValue, true
	}
}

// PersonalFields implements PersonalData: name, e-mail and phone. The role
// is a job title and stays readable.
func (e *ContactAdded) PersonalFields() []*string {
	return []*string{&e.Name, &e.Email, &e.Phone}
}

// MarkErased implements PersonalData.
func (e *ContactAdded) MarkErased() {
	e.Name, e.Email, e.Erased = ErasedValue, ErasedValue, true
	if e.Phone != "" {
		e.Phone = ErasedValue
	}
}

func (*ProjectStarted) EventType() string          { return TypeProjectStarted }
func (*AnswerSubmitted) EventType() string         { return TypeAnswerSubmitted }
func (*ContactAdded) EventType() string            { return TypeContactAdded }
func (*ContactRemoved) EventType() string          { return TypeContactRemoved }
func (*StepCompleted) EventType() string           { return TypeStepCompleted }
func (*StepReopened) EventType() string            { return TypeStepReopened }
func (*TestResultRecorded) EventType() string      { return TypeTestResultRecorded }
func (*TimeLogged) EventType() string              { return TypeTimeLogged }
func (*WaitingOnCustomerMarked) EventType() string { return TypeWaitingOnCustomerMarked }
func (*WorkResumed) EventType() string             { return TypeWorkResumed }
func (*ProjectCompleted) EventType() string        { return TypeProjectCompleted }
func (*ProjectCancelled) EventType() string        { return TypeProjectCancelled }
func (*SecretRevealed) EventType() string          { return TypeSecretRevealed }
func (*PersonalDataErased) EventType() string      { return TypePersonalDataErased }

func (*ProjectStarted) SchemaVersion() int          { return 1 }
func (*AnswerSubmitted) SchemaVersion() int         { return 1 }
func (*ContactAdded) SchemaVersion() int            { return 1 }
func (*ContactRemoved) SchemaVersion() int          { return 1 }
func (*StepCompleted) SchemaVersion() int           { return 1 }
func (*StepReopened) SchemaVersion() int            { return 1 }
func (*TestResultRecorded) SchemaVersion() int      { return 1 }
func (*TimeLogged) SchemaVersion() int              { return 2 }
func (*WaitingOnCustomerMarked) SchemaVersion() int { return 1 }
func (*WorkResumed) SchemaVersion() int             { return 1 }
func (*ProjectCompleted) SchemaVersion() int        { return 1 }
func (*ProjectCancelled) SchemaVersion() int        { return 1 }
func (*SecretRevealed) SchemaVersion() int          { return 1 }
func (*PersonalDataErased) SchemaVersion() int      { return 1 }

var eventFactories = map[string]func() Event{
	TypeProjectStarted:          func() Event { return &ProjectStarted{} },
	TypeAnswerSubmitted:         func() Event { return &AnswerSubmitted{} },
	TypeContactAdded:            func() Event { return &ContactAdded{} },
	TypeContactRemoved:          func() Event { return &ContactRemoved{} },
	TypeStepCompleted:           func() Event { return &StepCompleted{} },
	TypeStepReopened:            func() Event { return &StepReopened{} },
	TypeTestResultRecorded:      func() Event { return &TestResultRecorded{} },
	TypeTimeLogged:              func() Event { return &TimeLogged{} },
	TypeWaitingOnCustomerMarked: func() Event { return &WaitingOnCustomerMarked{} },
	TypeWorkResumed:             func() Event { return &WorkResumed{} },
	TypeProjectCompleted:        func() Event { return &ProjectCompleted{} },
	TypeProjectCancelled:        func() Event { return &ProjectCancelled{} },
	TypeSecretRevealed:          func() Event { return &SecretRevealed{} },
	TypePersonalDataErased:      func() Event { return &PersonalDataErased{} },
}

// NewEvent returns a pointer to a zero event of the given type name, ready
// to be decoded into.
func NewEvent(eventType string) (Event, error) {
	f, ok := eventFactories[eventType]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	return f(), nil
}

// EventTypes returns every event type name.
func EventTypes() []string {
	types := make([]string, 0, len(eventFactories))
	for t := range eventFactories {
		types = append(types, t)
	}
	return types
}
