package domain_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// anna is a contact that AddContact accepts.
func anna() domain.AddContact {
	return domain.AddContact{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se", Phone: "+46 70-123 45 67", Role: "CFO"}
}

func TestAddContactRecordsContact(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.AddContact{ContactID: "c1", Name: "  Anna Andersson ", Email: " anna@example.se ", Phone: " +46 70-123 45 67 ", Role: " CFO "})

	thenEvents(t, events, err, &domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se", Phone: "+46 70-123 45 67", Role: "CFO"})
}

func TestAddContactOptionalFields(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.AddContact{ContactID: "c1", Name: "Anna", Email: "<anna@example.se>"})

	thenEvents(t, events, err, &domain.ContactAdded{ContactID: "c1", Name: "Anna", Email: "anna@example.se"})
}

func TestAddContactAcceptsPhoneFormats(t *testing.T) {
	for _, phone := range []string{"0701234567", "+46701234567", "070-123 45 67", "(08) 123 45", "12345", "123456789012345"} {
		t.Run(phone, func(t *testing.T) {
			cmd := anna()
			cmd.Phone = phone

			events, err := when(t, given(settlementStart()), cmd)

			thenEvents(t, events, err, &domain.ContactAdded{ContactID: "c1", Name: cmd.Name, Email: cmd.Email, Phone: phone, Role: cmd.Role})
		})
	}
}

func TestAddContactRejectsInvalidInput(t *testing.T) {
	tests := []struct {
		name   string
		change func(*domain.AddContact)
		field  string
	}{
		{"empty name", func(c *domain.AddContact) { c.Name = "" }, "name"},
		{"blank name", func(c *domain.AddContact) { c.Name = "  " }, "name"},
		{"long name", func(c *domain.AddContact) { c.Name = strings.Repeat("a", domain.MaxNameLength+1) }, "name"},
		{"empty email", func(c *domain.AddContact) { c.Email = "" }, "email"},
		{"email without at sign", func(c *domain.AddContact) { c.Email = "anna.example.se" }, "email"},
		{"email without domain", func(c *domain.AddContact) { c.Email = "anna@" }, "email"},
		{"email with two addresses", func(c *domain.AddContact) { c.Email = "anna@example.se, bo@example.se" }, "email"},
		{"email with display name", func(c *domain.AddContact) { c.Email = "Anna <anna@example.se>" }, "email"},
		{"phone with letters", func(c *domain.AddContact) { c.Phone = "070-ABC 45 67" }, "phone"},
		{"phone too short", func(c *domain.AddContact) { c.Phone = "1234" }, "phone"},
		{"phone too long", func(c *domain.AddContact) { c.Phone = "1234567890123456" }, "phone"},
		{"phone plus inside", func(c *domain.AddContact) { c.Phone = "46+701234567" }, "phone"},
		{"phone only separators", func(c *domain.AddContact) { c.Phone = "+ - ( )" }, "phone"},
		{"long role", func(c *domain.AddContact) { c.Role = strings.Repeat("a", domain.MaxNameLength+1) }, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := anna()
			tt.change(&cmd)

			events, err := when(t, given(settlementStart()), cmd)

			thenInvalid(t, events, err, tt.field)
		})
	}
}

func TestAddContactDuplicateEmail(t *testing.T) {
	for _, email := range []string{"anna@example.se", "ANNA@Example.SE", " anna@example.se "} {
		t.Run(email, func(t *testing.T) {
			p := given(settlementStart(), &domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"})

			events, err := when(t, p, domain.AddContact{ContactID: "c2", Name: "Anna A.", Email: email})

			thenInvalid(t, events, err, "email")
		})
	}
}

// A contact id names one contact: RemoveContact removes by id, so a second
// contact with the same id, or a contact without an id, must be rejected.
func TestAddContactRejectsBadContactID(t *testing.T) {
	tests := []struct {
		name      string
		contactID string
	}{
		{"duplicate contact id", "c1"},
		{"empty contact id", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart(), &domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"})

			events, err := when(t, p, domain.AddContact{ContactID: tt.contactID, Name: "Bo Berg", Email: "bo@example.se"})

			thenInvalid(t, events, err, "contactId")
		})
	}
}

func TestRemoveContactRecordsRemoval(t *testing.T) {
	p := given(settlementStart(),
		&domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"},
		&domain.ContactAdded{ContactID: "c2", Name: "Bo Berg", Email: "bo@example.se"},
	)

	events, err := when(t, p, domain.RemoveContact{ContactID: "c1"})

	thenEvents(t, events, err, &domain.ContactRemoved{ContactID: "c1"})
	for _, e := range events {
		p.Apply(e)
	}
	want := []domain.Contact{{ID: "c2", Name: "Bo Berg", Email: "bo@example.se"}}
	if got := p.Contacts(); !reflect.DeepEqual(got, want) {
		t.Errorf("Contacts() = %+v, expected %+v", got, want)
	}
}

func TestRemoveContactUnknownContact(t *testing.T) {
	p := given(settlementStart(), &domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"})

	events, err := when(t, p, domain.RemoveContact{ContactID: "c9"})

	de := thenError(t, events, err, domain.KindNotFound, "")
	if de.Field != "contactId" {
		t.Errorf("error field = %q, expected %q", de.Field, "contactId")
	}
}

func TestRemoveContactTwiceNotFound(t *testing.T) {
	p := given(settlementStart(),
		&domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"},
		&domain.ContactRemoved{ContactID: "c1"},
	)

	events, err := when(t, p, domain.RemoveContact{ContactID: "c1"})

	thenError(t, events, err, domain.KindNotFound, "")
}

func TestReAddRemovedContactEmail(t *testing.T) {
	p := given(settlementStart(),
		&domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"},
		&domain.ContactRemoved{ContactID: "c1"},
	)

	events, err := when(t, p, domain.AddContact{ContactID: "c2", Name: "Anna Andersson", Email: "anna@example.se"})

	thenEvents(t, events, err, &domain.ContactAdded{ContactID: "c2", Name: "Anna Andersson", Email: "anna@example.se"})
}

func TestContactsReturnsCopy(t *testing.T) {
	p := given(settlementStart(), &domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"})

	contacts := p.Contacts()
	contacts[0].Name = "Changed"

	if got := p.Contacts()[0].Name; got != "Anna Andersson" {
		t.Errorf("Contacts()[0].Name = %q after changing the returned slice, expected %q", got, "Anna Andersson")
	}
}
