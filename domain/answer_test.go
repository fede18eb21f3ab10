package domain_test

import (
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

func TestSubmitAnswerNormalizesValue(t *testing.T) {
	tests := []struct {
		name     string
		question string
		systemID string
		value    string
		want     string
	}{
		{"text trimmed", "collect-order-status", "", "  processing  ", "processing"},
		{"secret kept", "platform-login", "", "admin / s3cret!", "admin / s3cret!"},
		{"per-system secret", "api-credentials", "fortnox", "client-id:abc", "client-id:abc"},
		{"per-system text", "api-endpoint", "woocommerce-shop", "https://shop.example.se/wp-json", "https://shop.example.se/wp-json"},
		{"boolean yes", "sync-stock", "", "yes", "true"},
		{"boolean no", "sync-stock", "", "no", "false"},
		{"boolean ja", "sync-stock", "", "ja", "true"},
		{"boolean nej", "sync-stock", "", "nej", "false"},
		{"boolean true", "sync-stock", "", "true", "true"},
		{"boolean false", "sync-stock", "", "false", "false"},
		{"boolean upper case", "sync-stock", "", "YES", "true"},
		{"boolean mixed case", "sync-stock", "", "Nej", "false"},
		{"confirmation ja", "unique-sku", "", "Ja", "true"},
		{"confirmation false", "unique-sku", "", "FALSE", "false"},
		{"per-system confirmation", "requirements-met", "postnord", "yes", "true"},
		{"choice exact id", "order-document", "", "ORDER", "ORDER"},
		{"choice lower case", "order-document", "", "customer_invoice", "CUSTOMER_INVOICE"},
		{"choice mixed case", "invoice-handling", "", "Leave_Open", "LEAVE_OPEN"},
		{"system id", "product-master", "", "fortnox", "fortnox"},
		{"system id upper case", "price-master", "", "WOOCOMMERCE-SHOP", "woocommerce-shop"},
		{"system name", "stock-master", "", "WooCommerce shop", "woocommerce-shop"},
		{"system name lower case", "stock-master", "", "postnord", "postnord"},
		{"integer", "sales-account", "", "3001", "3001"},
		{"decimal trailing zero", "fees-account", "", "12.50", "12.5"},
		{"decimal comma", "fees-account", "", "12,50", "12.5"},
		{"leading zeros", "fees-account", "", "007", "7"},
		{"number with spaces", "payouts-account", "", " 1930 ", "1930"},
		{"number per settlement step", "recording-account", "", "1580", "1580"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart())

			events, err := when(t, p, domain.SubmitAnswer{QuestionID: tt.question, SystemID: tt.systemID, Value: tt.value})

			q, _ := domain.CurrentTemplate().Question(tt.question)
			thenEvents(t, events, err, &domain.AnswerSubmitted{QuestionID: tt.question, SystemID: tt.systemID, Value: tt.want, Secret: q.Kind == domain.KindSecret})
		})
	}
}

func TestSubmitAnswerRejectsInvalidValue(t *testing.T) {
	tests := []struct {
		name     string
		question string
		systemID string
		value    string
	}{
		{"empty text", "collect-order-status", "", ""},
		{"blank text", "collect-order-status", "", "   "},
		{"empty secret", "platform-login", "", ""},
		{"too long text", "collect-order-status", "", strings.Repeat("a", domain.MaxAnswerLength+1)},
		{"invalid UTF-8", "collect-order-status", "", "processing \xff"},
		{"boolean maybe", "sync-stock", "", "maybe"},
		{"boolean digit", "sync-stock", "", "1"},
		{"confirmation unknown", "unique-sku", "", "nope"},
		{"confirmation empty", "unique-sku", "", ""},
		{"choice unknown", "order-document", "", "invoice"},
		{"choice label", "order-document", "", "Customer invoice"},
		{"system unknown", "product-master", "", "Magento"},
		{"system platform", "product-master", "", "WOOCOMMERCE"},
		{"number letters", "sales-account", "", "abc"},
		{"number infinity", "sales-account", "", "Inf"},
		{"number NaN", "sales-account", "", "NaN"},
		{"number empty", "sales-account", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart())

			events, err := when(t, p, domain.SubmitAnswer{QuestionID: tt.question, SystemID: tt.systemID, Value: tt.value})

			thenInvalid(t, events, err, "value")
		})
	}
}

func TestSubmitAnswerAcceptsMaximumLength(t *testing.T) {
	value := strings.Repeat("a", domain.MaxAnswerLength)
	p := given(settlementStart())

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "handover-notes", Value: value})

	thenEvents(t, events, err, &domain.AnswerSubmitted{QuestionID: "handover-notes", Value: value})
}

func TestSubmitAnswerChoiceListsOptions(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "order-document", Value: "invoice"})

	de := thenInvalid(t, events, err, "value")
	for _, option := range []string{"ORDER", "CUSTOMER_INVOICE"} {
		if !strings.Contains(de.Message, option) {
			t.Errorf("message %q does not list option %s", de.Message, option)
		}
	}
}

func TestSubmitAnswerSystemListsSystems(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "product-master", Value: "Magento"})

	de := thenInvalid(t, events, err, "value")
	for _, sys := range []domain.System{wooShop, fortnox, klarna, postnord} {
		if !strings.Contains(de.Message, sys.ID) {
			t.Errorf("message %q does not list system %s", de.Message, sys.ID)
		}
	}
}

func TestSubmitAnswerChecksSystemID(t *testing.T) {
	tests := []struct {
		name     string
		question string
		systemID string
	}{
		{"per-system without id", "api-credentials", ""},
		{"per-system unknown id", "api-credentials", "shopify-store"},
		{"per-system system name", "api-credentials", "WooCommerce shop"},
		{"per-system id wrong case", "api-credentials", "Fortnox"},
		{"payment question for ERP", "payment-api-key", "fortnox"},
		{"payment question without id", "payment-files-received", ""},
		{"project question with id", "platform-login", "fortnox"},
		{"project confirmation with id", "questionnaire-returned", "klarna"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart())

			events, err := when(t, p, domain.SubmitAnswer{QuestionID: tt.question, SystemID: tt.systemID, Value: "yes"})

			thenInvalid(t, events, err, "systemId")
		})
	}
}

func TestSubmitAnswerPaymentQuestionForProvider(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "payment-api-key", SystemID: "klarna", Value: "klarna-key"})

	thenEvents(t, events, err, &domain.AnswerSubmitted{QuestionID: "payment-api-key", SystemID: "klarna", Value: "klarna-key", Secret: true})
}

func TestSubmitAnswerUnknownQuestion(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "favourite-colour", Value: "blue"})

	de := thenError(t, events, err, domain.KindNotFound, "")
	if de.Field != "questionId" {
		t.Errorf("error field = %q, expected %q", de.Field, "questionId")
	}
}

func TestSubmitAnswerRevisionAddsEvent(t *testing.T) {
	p := given(settlementStart(),
		&domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "true"},
	)

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "sync-stock", Value: "nej"})

	thenEvents(t, events, err, &domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "false"})
}

func TestSubmitAnswerIdenticalAnswerNoEvents(t *testing.T) {
	tests := []struct {
		name     string
		question string
		systemID string
		current  string
		value    string
	}{
		{"same text", "collect-order-status", "", "processing", "processing"},
		{"same text padded", "collect-order-status", "", "processing", " processing "},
		{"same boolean other word", "sync-stock", "", "true", "Ja"},
		{"same choice other case", "order-document", "", "ORDER", "order"},
		{"same system by name", "product-master", "", "woocommerce-shop", "WooCommerce shop"},
		{"same number other form", "sales-account", "", "12.5", "12.50"},
		{"same per-system answer", "api-credentials", "klarna", "key", "key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart(),
				&domain.AnswerSubmitted{QuestionID: tt.question, SystemID: tt.systemID, Value: tt.current},
			)

			events, err := when(t, p, domain.SubmitAnswer{QuestionID: tt.question, SystemID: tt.systemID, Value: tt.value})

			thenEvents(t, events, err)
		})
	}
}

func TestSubmitAnswerKeyedBySystem(t *testing.T) {
	p := given(settlementStart(),
		&domain.AnswerSubmitted{QuestionID: "api-credentials", SystemID: "fortnox", Value: "key"},
	)

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "api-credentials", SystemID: "klarna", Value: "key"})

	thenEvents(t, events, err, &domain.AnswerSubmitted{QuestionID: "api-credentials", SystemID: "klarna", Value: "key", Secret: true})
}

func TestAnswerAppliedToState(t *testing.T) {
	p := given(settlementStart(),
		&domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "true"},
		&domain.AnswerSubmitted{QuestionID: "api-credentials", SystemID: "fortnox", Value: "key-1"},
		&domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "false"},
	)

	tests := []struct {
		key    domain.AnswerKey
		want   string
		wantOK bool
	}{
		{domain.AnswerKey{QuestionID: "sync-stock"}, "false", true},
		{domain.AnswerKey{QuestionID: "api-credentials", SystemID: "fortnox"}, "key-1", true},
		{domain.AnswerKey{QuestionID: "api-credentials", SystemID: "klarna"}, "", false},
		{domain.AnswerKey{QuestionID: "api-credentials"}, "", false},
	}
	for _, tt := range tests {
		got, ok := p.Answer(tt.key)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Answer(%s) = %q, %t, expected %q, %t", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestAnswerKeyString(t *testing.T) {
	if got := (domain.AnswerKey{QuestionID: "sync-stock"}).String(); got != "sync-stock" {
		t.Errorf("String() = %q, expected %q", got, "sync-stock")
	}
	if got := (domain.AnswerKey{QuestionID: "api-credentials", SystemID: "fortnox"}).String(); got != "api-credentials@fortnox" {
		t.Errorf("String() = %q, expected %q", got, "api-credentials@fortnox")
	}
}

func TestNormalizeAnswerWithoutProject(t *testing.T) {
	number := &domain.Question{ID: "account", Kind: domain.KindNumber}
	got, err := domain.NormalizeAnswer(number, "12.50", nil)
	if err != nil || got != "12.5" {
		t.Errorf("NormalizeAnswer(NUMBER, %q) = %q, %v, expected %q", "12.50", got, err, "12.5")
	}

	system := &domain.Question{ID: "master", Kind: domain.KindSystem}
	_, err = domain.NormalizeAnswer(system, "fortnox", nil)
	if domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("NormalizeAnswer(SYSTEM) without systems: error kind = %q, expected %q", domain.KindOf(err), domain.KindInvalid)
	}
}

// NormalizeAnswer documents NUMBER answers as decimal numbers.
func TestSubmitAnswerNumberRejectsNonDecimal(t *testing.T) {
	for _, value := range []string{"0x1p4", "0x10p0", "1_000"} {
		t.Run(value, func(t *testing.T) {
			p := given(settlementStart())

			events, err := when(t, p, domain.SubmitAnswer{QuestionID: "sales-account", Value: value})

			thenInvalid(t, events, err, "value")
		})
	}
}

// A canonical NUMBER answer must keep the value that the customer sent, so
// a number with more digits than a float64 holds is kept or rejected, never
// rounded.
func TestSubmitAnswerNumberKeepsAllDigits(t *testing.T) {
	const value = "12345678901234567890"
	p := given(settlementStart())

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "sales-account", Value: value})

	if err != nil {
		thenInvalid(t, events, err, "value")
		return
	}
	thenEvents(t, events, err, &domain.AnswerSubmitted{QuestionID: "sales-account", Value: value})
}

// A settlement project may start without a payment provider, and then no
// system takes the per-provider questions. The error must then name that
// cause instead of an empty list of systems.
func TestSubmitAnswerNoMatchingSystemMessage(t *testing.T) {
	p := given(started(true, wooShop, fortnox))

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "payment-api-key", SystemID: "fortnox", Value: "key"})

	de := thenInvalid(t, events, err, "systemId")
	if strings.HasSuffix(strings.TrimSpace(de.Message), "not one of") {
		t.Errorf("message %q ends with an empty list of systems", de.Message)
	}
}
