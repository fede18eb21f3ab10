package domain_test

import (
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// FuzzNormalizeAnswer checks, for every question kind, that decoding any
// value either fails with an invalid-input error or returns a canonical
// form that decodes to itself.
func FuzzNormalizeAnswer(f *testing.F) {
	for _, seed := range []string{"true", "ja", "CUSTOMER_INVOICE", "webshop", "12,50", "-007.100", "", " ", "0x1p4", "∞"} {
		f.Add(seed)
	}
	systems := []domain.System{{ID: "webshop", Name: "Webshop", Platform: "WOOCOMMERCE"}, {ID: "fortnox", Name: "Fortnox", Platform: "FORTNOX"}}
	tpl := domain.CurrentTemplate()
	questions := []string{"platform-login", "sync-stock", "unique-sku", "order-document", "product-master", "sales-account", "collect-order-status"}
	f.Fuzz(func(t *testing.T, value string) {
		for _, id := range questions {
			q, ok := tpl.Question(id)
			if !ok {
				t.Fatalf("question %s missing", id)
			}
			canonical, err := domain.NormalizeAnswer(q, value, systems)
			if err != nil {
				if domain.KindOf(err) != domain.KindInvalid {
					t.Fatalf("%s %q: error %v is not invalid input", id, value, err)
				}
				continue
			}
			again, err := domain.NormalizeAnswer(q, canonical, systems)
			if err != nil || again != canonical {
				t.Fatalf("%s %q: canonical form %q decodes to %q, %v", id, value, canonical, again, err)
			}
		}
	})
}
