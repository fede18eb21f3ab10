package readmodel

import (
	"time"

	"github.com/integrationplatform/onboarding/domain"
)

// Step and phase states shown in views.
const (
	StateNotApplicable = "NOT_APPLICABLE"
	StateOpen          = "OPEN"
	StateInProgress    = "IN_PROGRESS"
	StateCompleted     = "COMPLETED"
)

// Test states shown in views.
const (
	TestNotRun = "NOT_RUN"
	TestPassed = "PASSED"
	TestFailed = "FAILED"
)

// Project is a snapshot of one project as the API shows it. A snapshot is
// shared by every reader of the same version, so callers must not modify it.
type Project struct {
	ID                    string
	Name                  string
	CustomerID            string
	CustomerName          string
	Status                domain.Status
	Version               int
	TemplateVersion       int
	UsesSettlement        bool
	Systems               []System
	PreviousProjectID     string
	EstimatedHours        float64
	LoggedHours           float64
	TimeEntries           []TimeEntry
	Contacts              []Contact
	Waiting               *Waiting
	Questionnaire         Questionnaire
	ReadyForConfiguration bool
	CurrentPhaseID        string
	Phases                []Phase
	StartedAt             time.Time
	UpdatedAt             time.Time
	CompletedAt           *time.Time
	CancelledAt           *time.Time
	CancellationReason    string
	// StartedBy is the user id of the actor who started the project.
	StartedBy string
	// Erasure is set once the project's personal data was erased.
	Erasure *Erasure
}

// Erasure describes the erasure of a project's personal data.
type Erasure struct {
	Reason   string
	ErasedAt time.Time
	ErasedBy string
	Version  int
}

// System is a connected system.
type System struct {
	ID             string
	Name           string
	Platform       string
	Category       domain.SystemCategory
	OpenSourceShop bool
}

// TimeEntry is one logged piece of work.
type TimeEntry struct {
	Hours       float64
	Minutes     int
	Description string
	StepID      string
	LoggedAt    time.Time
	LoggedBy    string
	Version     int
}

// Contact is a person on the project.
type Contact struct {
	ID      string
	Name    string
	Email   string
	Phone   string
	Role    string
	AddedAt time.Time
	// Erased is set when name, e-mail and phone were erased.
	Erased bool
}

// Waiting describes a wait on the customer.
type Waiting struct {
	Since  time.Time
	Reason string
	// MissingAnswers are the keys of required questionnaire answers that
	// are still missing.
	MissingAnswers []string
}

// Questionnaire summarises the required answers of the first phase.
type Questionnaire struct {
	Answered int
	Required int
	Missing  []string
}

// Completion returns the answered share of required answers, from 0 to 1.
func (q Questionnaire) Completion() float64 {
	if q.Required == 0 {
		return 1
	}
	return float64(q.Answered) / float64(q.Required)
}

// Phase is a phase of a project.
type Phase struct {
	ID         string
	Number     int
	Title      domain.Text
	Applicable bool
	State      string
	Steps      []Step
}

// Step is a step of a project.
type Step struct {
	ID          string
	PhaseID     string
	Title       domain.Text
	Description domain.Text
	Applicable  bool
	State       string
	Questions   []Question
	Tests       []Test
	Missing     []string
	CompletedAt *time.Time
	Reopenings  []Reopening
}

// Reopening records a reopened step.
type Reopening struct {
	Reason     string
	ReopenedAt time.Time
	ReopenedBy string
	Version    int
}

// Question is a question as asked in a project, with its answers.
type Question struct {
	ID       string
	Key      string
	Text     domain.Text
	Kind     domain.QuestionKind
	Required bool
	Options  []domain.Option
	System   *System
	// Answer is the current answer; nil when unanswered.
	Answer *Answer
	// Revisions lists every answer given, oldest first.
	Revisions []Answer
}

// Answer is one submitted answer. Value is masked for SECRET questions.
type Answer struct {
	// Value is the canonical answer, masked for a secret and ErasedValue
	// after an erasure.
	Value string
	// Erased is set when Value was erased with the project's personal data.
	Erased      bool
	Version     int
	SubmittedAt time.Time
	SubmittedBy string
}

// Test is a test of a step with its runs.
type Test struct {
	ID          string
	Title       domain.Text
	Description domain.Text
	State       string
	Attempts    []TestAttempt
}

// TestAttempt is one run of a test.
type TestAttempt struct {
	Passed     bool
	Notes      string
	RecordedAt time.Time
	RecordedBy string
	Version    int
}

// Dashboard summarises every project.
type Dashboard struct {
	TotalProjects int
	ByStatus      []StatusCount
	// ByPhase counts active projects by their current phase.
	ByPhase []PhaseCount
	// Waiting lists active projects that wait on the customer, longest
	// waiting first.
	Waiting []WaitingProject
	// QuestionnaireCompletion is the mean questionnaire completion of active
	// projects, from 0 to 1.
	QuestionnaireCompletion float64
	EstimatedHours          float64
	LoggedHours             float64
	// AverageLeadTimeHours is the mean time from start to completion of
	// completed projects, in hours; nil when none is completed.
	AverageLeadTimeHours *float64
	CompletedProjects    int
	UpdatedAt            time.Time
}

// StatusCount is a number of projects in one status.
type StatusCount struct {
	Status domain.Status
	Count  int
}

// PhaseCount is a number of active projects in one phase.
type PhaseCount struct {
	PhaseID string
	Title   domain.Text
	Count   int
}

// WaitingProject is a project that waits on the customer.
type WaitingProject struct {
	ProjectID      string
	ProjectName    string
	CustomerName   string
	Since          time.Time
	Reason         string
	MissingAnswers []string
}
