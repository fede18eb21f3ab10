package domain_test

import (
	"reflect"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

var (
	secretAnswer = &domain.AnswerSubmitted{QuestionID: "api-credentials", SystemID: "fortnox", Value: "fortnox-key-1234", Secret: true}
	plainAnswer  = &domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "true"}
	annaAdded    = &domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se", Phone: "+46 70 123 45 67", Role: "CFO"}
	erased       = &domain.PersonalDataErased{Reason: "customer asked for deletion"}
)

func TestRevealSecretRecordsVersion(t *testing.T) {
	p := given(settlementStart(), secretAnswer)

	events, err := when(t, p, domain.RevealSecret{QuestionID: "api-credentials", SystemID: "fortnox"})

	thenEvents(t, events, err, &domain.SecretRevealed{QuestionID: "api-credentials", SystemID: "fortnox", Version: 2})
}

func TestRevealSecretRejections(t *testing.T) {
	tests := []struct {
		name   string
		cmd    domain.RevealSecret
		kind   domain.ErrorKind
		field  string
		events []domain.Event
	}{
		{"unknown question", domain.RevealSecret{QuestionID: "no-such-question"}, domain.KindNotFound, "questionId", nil},
		{"question not secret", domain.RevealSecret{QuestionID: "sync-stock"}, domain.KindInvalid, "questionId", []domain.Event{plainAnswer}},
		{"not answered", domain.RevealSecret{QuestionID: "api-credentials", SystemID: "klarna"}, domain.KindNotFound, "questionId", []domain.Event{secretAnswer}},
		{"system missing", domain.RevealSecret{QuestionID: "api-credentials"}, domain.KindInvalid, "systemId", []domain.Event{secretAnswer}},
		{"unknown system", domain.RevealSecret{QuestionID: "api-credentials", SystemID: "no-such-system"}, domain.KindInvalid, "systemId", []domain.Event{secretAnswer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(append([]domain.Event{settlementStart()}, tt.events...)...)

			events, err := when(t, p, tt.cmd)

			de := thenError(t, events, err, tt.kind, "")
			if de.Field != tt.field {
				t.Errorf("error field = %q, expected %q", de.Field, tt.field)
			}
		})
	}
}

func TestRevealSecretOnClosedProject(t *testing.T) {
	p := given(settlementStart(), secretAnswer, &domain.ProjectCancelled{Reason: "customer withdrew"})

	events, err := when(t, p, domain.RevealSecret{QuestionID: "api-credentials", SystemID: "fortnox"})

	thenEvents(t, events, err, &domain.SecretRevealed{QuestionID: "api-credentials", SystemID: "fortnox", Version: 3})
}

func TestErasePersonalData(t *testing.T) {
	p := given(settlementStart(), secretAnswer, annaAdded, &domain.ProjectCompleted{})

	events, err := when(t, p, domain.ErasePersonalData{Reason: " customer asked for deletion "})

	thenEvents(t, events, err, erased)
}

func TestErasePersonalDataTwiceChangesNothing(t *testing.T) {
	p := given(settlementStart(), annaAdded, erased)

	events, err := when(t, p, domain.ErasePersonalData{Reason: "again"})

	thenEvents(t, events, err)
}

func TestErasePersonalDataNeedsReason(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.ErasePersonalData{Reason: "  "})

	thenInvalid(t, events, err, "reason")
}

func TestErasedProjectRejectsPersonalData(t *testing.T) {
	tests := []struct {
		name string
		cmd  domain.Command
	}{
		{"contact", domain.AddContact{ContactID: "c2", Name: "Bo Berg", Email: "bo@example.se"}},
		{"secret answer", domain.SubmitAnswer{QuestionID: "api-credentials", SystemID: "klarna", Value: "new-key"}},
		{"reveal", domain.RevealSecret{QuestionID: "api-credentials", SystemID: "fortnox"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart(), secretAnswer, erased)

			events, err := when(t, p, tt.cmd)

			thenError(t, events, err, domain.KindRuleViolation, domain.RulePersonalDataErased)
		})
	}
}

func TestErasedProjectTakesOtherAnswers(t *testing.T) {
	p := given(settlementStart(), erased)

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "sync-stock", Value: "yes"})

	thenEvents(t, events, err, plainAnswer)
}

func TestEraseReplacesPersonalValues(t *testing.T) {
	p := given(settlementStart(), secretAnswer, plainAnswer, annaAdded, erased)

	if !p.Erased() {
		t.Error("Erased() = false after PersonalDataErased")
	}
	if got, _ := p.Answer(domain.AnswerKey{QuestionID: "api-credentials", SystemID: "fortnox"}); got != domain.ErasedValue {
		t.Errorf("secret answer = %q, expected %q", got, domain.ErasedValue)
	}
	if got, _ := p.Answer(domain.AnswerKey{QuestionID: "sync-stock"}); got != "true" {
		t.Errorf("boolean answer = %q, expected it kept as %q", got, "true")
	}
	want := domain.Contact{ID: "c1", Name: domain.ErasedValue, Email: domain.ErasedValue, Phone: domain.ErasedValue, Role: "CFO", Erased: true}
	if got := p.Contacts(); len(got) != 1 || got[0] != want {
		t.Errorf("Contacts() = %+v, expected [%+v]", got, want)
	}
}

// A project replayed from events whose data key is gone must equal the
// project that applied the erasure live, or verification reports a
// difference.
func TestEraseMatchesReplayWithoutKey(t *testing.T) {
	live := given(settlementStart(), secretAnswer, plainAnswer, annaAdded, &domain.ContactAdded{ContactID: "c2", Name: "Bo Berg", Email: "bo@example.se"}, erased)

	replayedSecret, replayedAnna := *secretAnswer, *annaAdded
	replayedBo := domain.ContactAdded{ContactID: "c2", Name: "Bo Berg", Email: "bo@example.se"}
	for _, e := range []domain.PersonalData{&replayedSecret, &replayedAnna, &replayedBo} {
		e.MarkErased()
	}
	replayed := given(settlementStart(), &replayedSecret, plainAnswer, &replayedAnna, &replayedBo, erased)

	if !reflect.DeepEqual(live.Contacts(), replayed.Contacts()) {
		t.Errorf("contacts after live erasure = %+v\nafter replay without key = %+v", live.Contacts(), replayed.Contacts())
	}
	key := domain.AnswerKey{QuestionID: "api-credentials", SystemID: "fortnox"}
	liveValue, _ := live.Answer(key)
	replayedValue, _ := replayed.Answer(key)
	if liveValue != replayedValue {
		t.Errorf("secret answer after live erasure = %q, after replay without key = %q", liveValue, replayedValue)
	}
}

func TestPersonalFields(t *testing.T) {
	if got := plainAnswer.PersonalFields(); len(got) != 0 {
		t.Errorf("PersonalFields() of a boolean answer = %d fields, expected none", len(got))
	}
	if got := secretAnswer.PersonalFields(); len(got) != 1 || *got[0] != secretAnswer.Value {
		t.Errorf("PersonalFields() of a secret answer = %v, expected its value", got)
	}
	if got := annaAdded.PersonalFields(); len(got) != 3 {
		t.Errorf("PersonalFields() of a contact = %d fields, expected name, e-mail and phone", len(got))
	}
}

func TestRevealUnreadableSecret(t *testing.T) {
	unreadable := &domain.AnswerSubmitted{QuestionID: "platform-login", Value: domain.ErasedValue, Secret: true, Erased: true}
	p := given(settlementStart(), unreadable)

	events, err := when(t, p, domain.RevealSecret{QuestionID: "platform-login"})

	thenError(t, events, err, domain.KindRuleViolation, domain.RulePersonalDataErased)
}

func TestRevealSecretWhoseTextIsTheMarker(t *testing.T) {
	p := given(settlementStart(), &domain.AnswerSubmitted{QuestionID: "platform-login", Value: domain.ErasedValue, Secret: true})

	events, err := when(t, p, domain.RevealSecret{QuestionID: "platform-login"})

	thenEvents(t, events, err, &domain.SecretRevealed{QuestionID: "platform-login", Version: 2})
}
