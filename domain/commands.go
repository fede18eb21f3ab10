package domain

import (
	"math"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Command is a request to change a project. Project.Decide checks it
// against the rules and returns the events it causes.
type Command interface {
	commandName() string
}

// StartProject opens a new project.
type StartProject struct {
	ProjectID      string
	CustomerID     string
	CustomerName   string
	Name           string
	Systems        []SystemInput
	UsesSettlement bool
	EstimatedHours float64
	// PreviousProjectID links an additional project to an earlier project
	// of the same customer. The caller checks that the earlier project
	// exists and belongs to the customer.
	PreviousProjectID string
}

// SubmitAnswer answers a question, or revises the answer.
type SubmitAnswer struct {
	QuestionID string
	SystemID   string
	Value      string
}

// AddContact adds a person to the project.
type AddContact struct {
	ContactID string
	Name      string
	Email     string
	Phone     string
	Role      string
}

// RemoveContact removes a person from the project.
type RemoveContact struct{ ContactID string }

// CompleteStep marks a step done.
type CompleteStep struct{ StepID string }

// ReopenStep reopens a completed step.
type ReopenStep struct{ StepID, Reason string }

// RecordTestResult records one run of a test.
type RecordTestResult struct {
	StepID, TestID string
	Passed         bool
	Notes          string
}

// LogTime records time worked, given in hours and stored in whole minutes.
type LogTime struct {
	Hours       float64
	Description string
	StepID      string
}

// MarkWaitingOnCustomer records that work waits for the customer.
type MarkWaitingOnCustomer struct{ Reason string }

// ResumeWork ends a wait on the customer.
type ResumeWork struct{}

// CompleteProject hands the project over to Support & Service.
type CompleteProject struct{}

// CancelProject ends the project without completing it.
type CancelProject struct{ Reason string }

// RevealSecret records that the caller reads the plain value of a secret
// answer.
type RevealSecret struct{ QuestionID, SystemID string }

// ErasePersonalData destroys the project's secret answers and contact
// details by destroying its data key.
type ErasePersonalData struct{ Reason string }

func (StartProject) commandName() string          { return "StartProject" }
func (SubmitAnswer) commandName() string          { return "SubmitAnswer" }
func (AddContact) commandName() string            { return "AddContact" }
func (RemoveContact) commandName() string         { return "RemoveContact" }
func (CompleteStep) commandName() string          { return "CompleteStep" }
func (ReopenStep) commandName() string            { return "ReopenStep" }
func (RecordTestResult) commandName() string      { return "RecordTestResult" }
func (LogTime) commandName() string               { return "LogTime" }
func (MarkWaitingOnCustomer) commandName() string { return "MarkWaitingOnCustomer" }
func (ResumeWork) commandName() string            { return "ResumeWork" }
func (CompleteProject) commandName() string       { return "CompleteProject" }
func (CancelProject) commandName() string         { return "CancelProject" }
func (RevealSecret) commandName() string          { return "RevealSecret" }
func (ErasePersonalData) commandName() string     { return "ErasePersonalData" }

// CommandName returns the name of the command's type, for logs.
func CommandName(c Command) string { return c.commandName() }

// Limits on command input.
const (
	MaxNameLength   = 200
	MaxReasonLength = 2000
	MaxHoursPerLog  = 24
	MaxEstimate     = 10000
	MaxSystems      = 50
)

// Decide checks cmd against the project's rules and returns the events it
// causes. It returns an *Error on invalid input or a broken rule. An empty
// slice with a nil error means the command changes nothing.
func (p *Project) Decide(cmd Command) ([]Event, error) {
	if start, ok := cmd.(StartProject); ok {
		return p.startProject(start)
	}
	if !p.Started() {
		return nil, notFound("projectId", "project %q does not exist; start it with startProject first", p.id)
	}
	if err := p.checkOpen(cmd); err != nil {
		return nil, err
	}
	switch c := cmd.(type) {
	case SubmitAnswer:
		return p.submitAnswer(c)
	case AddContact:
		return p.addContact(c)
	case RemoveContact:
		return p.removeContact(c)
	case CompleteStep:
		return p.completeStep(c)
	case ReopenStep:
		return p.reopenStep(c)
	case RecordTestResult:
		return p.recordTestResult(c)
	case LogTime:
		return p.logTime(c)
	case MarkWaitingOnCustomer:
		return p.markWaiting(c)
	case ResumeWork:
		if !p.waiting {
			return nil, violation(RuleWaitingState, nil, "project %q is not waiting on the customer, so there is no work to resume", p.id)
		}
		return []Event{&WorkResumed{}}, nil
	case CompleteProject:
		return p.completeProject()
	case CancelProject:
		reason, err := requireText("reason", c.Reason, MaxReasonLength)
		if err != nil {
			return nil, err
		}
		return []Event{&ProjectCancelled{Reason: reason}}, nil
	case RevealSecret:
		return p.revealSecret(c)
	case ErasePersonalData:
		return p.erasePersonalData(c)
	}
	return nil, invalid("command", "unknown command %T", cmd)
}

// checkOpen rejects changes to a completed or cancelled project. The
// template allows logging time on a completed project, because follow-up
// work is billed after the handover. Revealing a secret and erasing
// personal data change no project state, so they are allowed on closed
// projects too: support needs credentials after the handover, and erasure
// usually comes long after the end.
func (p *Project) checkOpen(cmd Command) error {
	switch cmd.(type) {
	case RevealSecret, ErasePersonalData:
		return nil
	}
	switch p.status {
	case StatusCancelled:
		return violation(RuleProjectClosed, nil, "project %q is cancelled and takes no more changes", p.id)
	case StatusCompleted:
		if _, ok := cmd.(LogTime); ok {
			return nil
		}
		return violation(RuleProjectClosed, nil, "project %q is completed and takes no more changes except logged time", p.id)
	}
	return nil
}

func requireText(field, value string, maxLen int) (string, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return "", invalid(field, "%s is empty; send a non-empty text", field)
	}
	if len(v) > maxLen || !utf8.ValidString(v) {
		return "", invalid(field, "%s must be valid UTF-8 of at most %d bytes", field, maxLen)
	}
	return v, nil
}

func (p *Project) startProject(c StartProject) ([]Event, error) {
	if p.Started() {
		return nil, violation(RuleProjectAlreadyExist, nil, "project %q already exists", p.id)
	}
	if c.ProjectID != p.id {
		return nil, invalid("projectId", "project id %q of the command does not match the project %q it was sent to", c.ProjectID, p.id)
	}
	e := &ProjectStarted{ProjectID: p.id, TemplateVersion: CurrentTemplateVersion, UsesSettlement: c.UsesSettlement, PreviousProjectID: c.PreviousProjectID}
	var err error
	if e.CustomerID, err = requireText("customerId", c.CustomerID, MaxNameLength); err != nil {
		return nil, err
	}
	if e.CustomerName, err = requireText("customerName", c.CustomerName, MaxNameLength); err != nil {
		return nil, err
	}
	if e.Name, err = requireText("name", c.Name, MaxNameLength); err != nil {
		return nil, err
	}
	if math.IsNaN(c.EstimatedHours) || c.EstimatedHours < 0 || c.EstimatedHours > MaxEstimate {
		return nil, invalid("estimatedHours", "estimatedHours %v is out of range; send a number of hours from 0 to %d", c.EstimatedHours, MaxEstimate)
	}
	e.EstimatedHours = c.EstimatedHours
	if e.Systems, err = newSystems(c.Systems); err != nil {
		return nil, err
	}
	if e.UsesSettlement && !hasCategory(e.Systems, CategoryPayment) {
		return nil, invalid("usesSettlement", "a settlement project needs at least one payment provider among its systems; add one, such as KLARNA, or set usesSettlement to false")
	}
	return []Event{e}, nil
}

func hasCategory(systems []System, category SystemCategory) bool {
	for _, s := range systems {
		if s.Category() == category {
			return true
		}
	}
	return false
}

func newSystems(inputs []SystemInput) ([]System, error) {
	if len(inputs) == 0 {
		return nil, invalid("systems", "systems is empty; name at least one connected system, such as the web shop")
	}
	if len(inputs) > MaxSystems {
		return nil, invalid("systems", "a project connects at most %d systems, got %d", MaxSystems, len(inputs))
	}
	systems := make([]System, 0, len(inputs))
	seen := map[string]bool{}
	for _, in := range inputs {
		name, err := requireText("systems.name", in.Name, MaxNameLength)
		if err != nil {
			return nil, err
		}
		in.Platform = Platform(strings.ToUpper(strings.TrimSpace(string(in.Platform))))
		if _, ok := LookupPlatform(in.Platform); !ok {
			return nil, invalid("systems.platform", "platform %q of system %q is unknown; send one of %s", in.Platform, name, platformNames())
		}
		id := Slug(name)
		if id == "" {
			return nil, invalid("systems.name", "system name %q has no letters or digits; send a name such as \"Web shop\"", name)
		}
		if seen[id] {
			return nil, invalid("systems.name", "system name %q is used twice (as id %q); give each system a distinct name", name, id)
		}
		seen[id] = true
		systems = append(systems, System{ID: id, Name: name, Platform: in.Platform})
	}
	return systems, nil
}

func (p *Project) step(stepID string) (*Step, error) {
	s, ok := p.template.Step(stepID)
	if !ok {
		return nil, notFound("stepId", "step %q does not exist in process template version %d", stepID, p.template.Version)
	}
	if !p.Applicable(s) {
		return nil, violation(RuleStepNotApplicable, nil, "step %q does not apply to project %q: it %s", stepID, p.id, s.Applicability.describe())
	}
	return s, nil
}

func (p *Project) submitAnswer(c SubmitAnswer) ([]Event, error) {
	q, ok := p.template.Question(c.QuestionID)
	if !ok {
		return nil, notFound("questionId", "question %q does not exist in process template version %d", c.QuestionID, p.template.Version)
	}
	if !p.Applicable(q.Step) {
		return nil, violation(RuleStepNotApplicable, nil, "question %q belongs to step %q, which does not apply to project %q: it %s", q.ID, q.Step.ID, p.id, q.Step.Applicability.describe())
	}
	if err := p.checkSystem(q, c.SystemID); err != nil {
		return nil, err
	}
	if p.completed[q.Step.ID] {
		return nil, violation(RuleStepCompleted, nil, "step %q is completed; reopen it before changing the answer to %q", q.Step.ID, q.ID)
	}
	if q.Kind == KindSecret && p.erased {
		return nil, violation(RulePersonalDataErased, nil, "the personal data of project %q was erased, so it takes no more secret answers; collect new ones in an additional project", p.id)
	}
	value, err := NormalizeAnswer(q, c.Value, p.start.Systems)
	if err != nil {
		return nil, err
	}
	if current, ok := p.answers[AnswerKey{q.ID, c.SystemID}]; ok && current == value {
		return []Event{}, nil
	}
	return []Event{&AnswerSubmitted{QuestionID: q.ID, SystemID: c.SystemID, Value: value, Secret: q.Kind == KindSecret}}, nil
}

func (p *Project) checkSystem(q *Question, systemID string) error {
	if !q.PerSystem {
		if systemID != "" {
			return invalid("systemId", "question %q is asked once per project, not per system; leave systemId out", q.ID)
		}
		return nil
	}
	var ids []string
	for _, sys := range p.start.Systems {
		if !q.AsksSystem(sys) {
			continue
		}
		if sys.ID == systemID {
			return nil
		}
		ids = append(ids, sys.ID)
	}
	if len(ids) == 0 {
		return invalid("systemId", "question %q is asked per system of category %v, and this project connects none", q.ID, q.SystemCategories)
	}
	if systemID == "" {
		return invalid("systemId", "systemId is missing: question %q is asked once per system; send one of %s", q.ID, strings.Join(ids, ", "))
	}
	return invalid("systemId", "question %q is asked once per system; systemId %q is not one of %s", q.ID, systemID, strings.Join(ids, ", "))
}

func (p *Project) addContact(c AddContact) ([]Event, error) {
	if p.erased {
		return nil, violation(RulePersonalDataErased, nil, "the personal data of project %q was erased, so it takes no more contacts; add new ones in an additional project", p.id)
	}
	if strings.TrimSpace(c.ContactID) == "" {
		return nil, invalid("contactId", "contact id is empty; generate a unique id for each contact")
	}
	for _, existing := range p.contacts {
		if existing.ID == c.ContactID {
			return nil, invalid("contactId", "contact id %q is already used on project %q; generate a new id", c.ContactID, p.id)
		}
	}
	e := &ContactAdded{ContactID: c.ContactID}
	var err error
	if e.Name, err = requireText("name", c.Name, MaxNameLength); err != nil {
		return nil, err
	}
	addr, perr := mail.ParseAddress(strings.TrimSpace(c.Email))
	if perr != nil || addr.Name != "" {
		return nil, invalid("email", "email %q is not a valid e-mail address; send it as name@example.com", c.Email)
	}
	e.Email = addr.Address
	e.Phone = strings.TrimSpace(c.Phone)
	if e.Phone != "" && !validPhone(e.Phone) {
		return nil, invalid("phone", "phone %q is not a phone number; send digits with an optional leading +, spaces or dashes", c.Phone)
	}
	e.Role = strings.TrimSpace(c.Role)
	if len(e.Role) > MaxNameLength {
		return nil, invalid("role", "role must be at most %d bytes", MaxNameLength)
	}
	for _, existing := range p.contacts {
		if strings.EqualFold(existing.Email, e.Email) {
			return nil, invalid("email", "contact with e-mail %q is already on the project as %q", e.Email, existing.ID)
		}
	}
	return []Event{e}, nil
}

func validPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')':
		default:
			return false
		}
	}
	return digits >= 5 && digits <= 15
}

func (p *Project) removeContact(c RemoveContact) ([]Event, error) {
	for _, existing := range p.contacts {
		if existing.ID == c.ContactID {
			return []Event{&ContactRemoved{ContactID: c.ContactID}}, nil
		}
	}
	return nil, notFound("contactId", "contact %q is not on project %q", c.ContactID, p.id)
}

func (p *Project) completeStep(c CompleteStep) ([]Event, error) {
	s, err := p.step(c.StepID)
	if err != nil {
		return nil, err
	}
	if p.completed[s.ID] {
		return nil, violation(RuleStepCompleted, nil, "step %q is already completed", s.ID)
	}
	if open := p.IncompleteBefore(s.Phase); len(open) > 0 {
		return nil, violation(RulePhaseOrder, prefixed("step:", open), "step %q of phase %q completes only after every step of the earlier phases", s.ID, s.Phase.ID)
	}
	if missing := p.MissingForStep(s); len(missing) > 0 {
		return nil, violation(RuleStepIncomplete, missing, "step %q cannot complete yet", s.ID)
	}
	return []Event{&StepCompleted{StepID: s.ID}}, nil
}

func prefixed(prefix string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = prefix + id
	}
	return out
}

func (p *Project) reopenStep(c ReopenStep) ([]Event, error) {
	s, err := p.step(c.StepID)
	if err != nil {
		return nil, err
	}
	if !p.completed[s.ID] {
		return nil, violation(RuleStepNotCompleted, nil, "step %q is not completed, so it cannot be reopened", s.ID)
	}
	reason, err := requireText("reason", c.Reason, MaxReasonLength)
	if err != nil {
		return nil, err
	}
	return []Event{&StepReopened{StepID: s.ID, Reason: reason}}, nil
}

func (p *Project) recordTestResult(c RecordTestResult) ([]Event, error) {
	s, err := p.step(c.StepID)
	if err != nil {
		return nil, err
	}
	if _, ok := s.Test(c.TestID); !ok {
		return nil, notFound("testId", "test %q does not exist in step %q", c.TestID, s.ID)
	}
	if p.completed[s.ID] {
		return nil, violation(RuleStepCompleted, nil, "step %q is completed; reopen it before running test %q again", s.ID, c.TestID)
	}
	if open := p.IncompleteBefore(s.Phase); len(open) > 0 {
		return nil, violation(RulePhaseOrder, prefixed("step:", open), "test %q of phase %q runs only after every step of the earlier phases", c.TestID, s.Phase.ID)
	}
	notes := strings.TrimSpace(c.Notes)
	if len(notes) > MaxReasonLength {
		return nil, invalid("notes", "notes must be at most %d bytes", MaxReasonLength)
	}
	return []Event{&TestResultRecorded{StepID: s.ID, TestID: c.TestID, Passed: c.Passed, Notes: notes}}, nil
}

func (p *Project) logTime(c LogTime) ([]Event, error) {
	minutes := int(math.Round(c.Hours * 60))
	if math.IsNaN(c.Hours) || c.Hours > MaxHoursPerLog || minutes < 1 {
		return nil, invalid("hours", "hours %v is out of range; log at least one minute (0.0167 hours) and at most %d hours at a time", c.Hours, MaxHoursPerLog)
	}
	description, err := requireText("description", c.Description, MaxReasonLength)
	if err != nil {
		return nil, err
	}
	if c.StepID != "" {
		if _, err := p.step(c.StepID); err != nil {
			return nil, err
		}
	}
	return []Event{&TimeLogged{Minutes: minutes, Description: description, StepID: c.StepID}}, nil
}

func (p *Project) markWaiting(c MarkWaitingOnCustomer) ([]Event, error) {
	if p.waiting {
		return nil, violation(RuleWaitingState, nil, "project %q is already waiting on the customer; resume work before marking a new wait", p.id)
	}
	reason, err := requireText("reason", c.Reason, MaxReasonLength)
	if err != nil {
		return nil, err
	}
	return []Event{&WaitingOnCustomerMarked{Reason: reason}}, nil
}

func (p *Project) completeProject() ([]Event, error) {
	if p.waiting {
		return nil, violation(RuleWaitingState, nil, "project %q is waiting on the customer; resume work before completing it", p.id)
	}
	var open []string
	for _, s := range p.template.Steps() {
		if p.Applicable(s) && !p.completed[s.ID] {
			open = append(open, "step:"+s.ID)
		}
	}
	if len(open) > 0 {
		return nil, violation(RuleProjectIncomplete, open, "project %q completes only when every applicable step is completed", p.id)
	}
	return []Event{&ProjectCompleted{}}, nil
}

func (p *Project) revealSecret(c RevealSecret) ([]Event, error) {
	q, ok := p.template.Question(c.QuestionID)
	if !ok {
		return nil, notFound("questionId", "question %q does not exist in process template version %d", c.QuestionID, p.template.Version)
	}
	if q.Kind != KindSecret {
		return nil, invalid("questionId", "question %q is of kind %s, not SECRET; its answer is shown in the project without revealing", q.ID, q.Kind)
	}
	if p.erased {
		return nil, violation(RulePersonalDataErased, nil, "the personal data of project %q was erased, so no secret can be revealed", p.id)
	}
	if err := p.checkSystem(q, c.SystemID); err != nil {
		return nil, err
	}
	key := AnswerKey{q.ID, c.SystemID}
	if _, ok := p.answers[key]; !ok {
		return nil, notFound("questionId", "question %q has no answer in project %q", key, p.id)
	}
	if p.AnswerErased(key) {
		return nil, violation(RulePersonalDataErased, nil, "the answer to %q in project %q cannot be read, because the project's data key is gone; erase its personal data with eraseProjectPersonalData", key, p.id)
	}
	return []Event{&SecretRevealed{QuestionID: q.ID, SystemID: c.SystemID, Version: p.version}}, nil
}

func (p *Project) erasePersonalData(c ErasePersonalData) ([]Event, error) {
	reason, err := requireText("reason", c.Reason, MaxReasonLength)
	if err != nil {
		return nil, err
	}
	if p.erased {
		return []Event{}, nil
	}
	return []Event{&PersonalDataErased{Reason: reason}}, nil
}
