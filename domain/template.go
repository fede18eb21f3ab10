package domain

import "fmt"

// Text is a customer-facing text in every supported language.
type Text struct {
	EN string `json:"en"`
	SV string `json:"sv"`
}

// In returns the text in locale ("en" or "sv"); any other locale gets English.
func (t Text) In(locale string) string {
	if locale == "sv" && t.SV != "" {
		return t.SV
	}
	return t.EN
}

// QuestionKind is the form an answer must take.
type QuestionKind string

// Question kinds. The canonical form of each answer value is described at
// NormalizeAnswer.
const (
	KindText         QuestionKind = "TEXT"
	KindSecret       QuestionKind = "SECRET"
	KindBoolean      QuestionKind = "BOOLEAN"
	KindConfirmation QuestionKind = "CONFIRMATION"
	KindChoice       QuestionKind = "CHOICE"
	KindSystem       QuestionKind = "SYSTEM"
	KindNumber       QuestionKind = "NUMBER"
)

// Applicability is the condition under which a step applies to a project.
type Applicability string

// Applicability values.
const (
	// Always applies to every project.
	Always Applicability = "ALWAYS"
	// WithOpenSourceShop applies when a connected system is an open-source
	// shop platform.
	WithOpenSourceShop Applicability = "OPEN_SOURCE_SHOP"
	// WithSettlement applies to projects that use the settlement service.
	WithSettlement Applicability = "SETTLEMENT"
)

// describe returns when a step with this applicability applies.
func (a Applicability) describe() string {
	switch a {
	case WithSettlement:
		return "applies only to projects started with usesSettlement: true"
	case WithOpenSourceShop:
		return "applies only when a connected system is an open-source shop platform such as WOOCOMMERCE, MAGENTO or PRESTASHOP"
	default:
		return "applies to every project"
	}
}

// Template is a versioned onboarding process: phases of steps, each with
// questions to answer and tests to pass.
type Template struct {
	Version int
	Phases  []*Phase

	steps     map[string]*Step
	questions map[string]*Question
}

// Phase is a stage of the process. Its steps complete only after every
// applicable step of the earlier phases has completed.
type Phase struct {
	ID            string
	Number        int
	Title         Text
	Applicability Applicability
	Steps         []*Step
}

// Step is a unit of work within a phase.
type Step struct {
	ID            string
	Phase         *Phase
	Title         Text
	Description   Text
	Applicability Applicability
	Questions     []*Question
	Tests         []*Test
	// RequiresContact is true when the step needs at least one contact on the
	// project before it can complete.
	RequiresContact bool
}

// Question is something the project must find out. A question with
// PerSystem set is asked once per connected system in SystemCategories (all
// systems when empty).
type Question struct {
	ID               string
	Step             *Step
	Text             Text
	Help             Text
	Kind             QuestionKind
	Required         bool
	Options          []Option
	PerSystem        bool
	SystemCategories []SystemCategory
}

// Option is one allowed answer of a CHOICE question.
type Option struct {
	ID    string
	Label Text
}

// Test is a test run with the customer that must pass before its step
// completes.
type Test struct {
	ID          string
	Step        *Step
	Title       Text
	Description Text
}

// Step returns the step with id.
func (t *Template) Step(id string) (*Step, bool) {
	s, ok := t.steps[id]
	return s, ok
}

// Question returns the question with id.
func (t *Template) Question(id string) (*Question, bool) {
	q, ok := t.questions[id]
	return q, ok
}

// Steps returns every step in process order.
func (t *Template) Steps() []*Step {
	var steps []*Step
	for _, p := range t.Phases {
		steps = append(steps, p.Steps...)
	}
	return steps
}

// Test returns the test with id in the step.
func (s *Step) Test(id string) (*Test, bool) {
	for _, test := range s.Tests {
		if test.ID == id {
			return test, true
		}
	}
	return nil, false
}

// AsksSystem reports whether a per-system question is asked for sys.
func (q *Question) AsksSystem(sys System) bool {
	if !q.PerSystem {
		return false
	}
	if len(q.SystemCategories) == 0 {
		return true
	}
	for _, c := range q.SystemCategories {
		if sys.Category() == c {
			return true
		}
	}
	return false
}

// CurrentTemplateVersion is the version new projects start on.
const CurrentTemplateVersion = 1

var templates = map[int]*Template{1: newTemplateV1()}

// LookupTemplate returns the template of the given version.
func LookupTemplate(version int) (*Template, error) {
	t, ok := templates[version]
	if !ok {
		return nil, notFound("version", "process template version %d does not exist; the current version is %d", version, CurrentTemplateVersion)
	}
	return t, nil
}

// CurrentTemplate returns the template new projects start on.
func CurrentTemplate() *Template {
	return templates[CurrentTemplateVersion]
}

// index links steps, questions and tests to their parents and builds the
// lookup maps. It panics on a duplicate id because templates are static.
func (t *Template) index() *Template {
	t.steps = map[string]*Step{}
	t.questions = map[string]*Question{}
	for i, p := range t.Phases {
		p.Number = i + 1
		for _, s := range p.Steps {
			if _, dup := t.steps[s.ID]; dup {
				panic(fmt.Sprintf("template %d: duplicate step id %q", t.Version, s.ID))
			}
			s.Phase = p
			if s.Applicability == "" {
				s.Applicability = p.Applicability
			}
			t.steps[s.ID] = s
			for _, q := range s.Questions {
				if _, dup := t.questions[q.ID]; dup {
					panic(fmt.Sprintf("template %d: duplicate question id %q", t.Version, q.ID))
				}
				q.Step = s
				t.questions[q.ID] = q
			}
			for _, test := range s.Tests {
				test.Step = s
			}
		}
	}
	return t
}
