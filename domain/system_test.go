package domain_test

import (
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

func TestSlugExamples(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"WooCommerce shop", "woocommerce-shop"},
		{"Fortnox", "fortnox"},
		{"  PostNord  ", "postnord"},
		{"Smörgås Butik", "smorgas-butik"},
		{"Åre Ölbryggeri", "are-olbryggeri"},
		{"ÅÄÖ åäö", "aao-aao"},
		{"Ekonomi (Fortnox)", "ekonomi-fortnox"},
		{"Shop #2 -- outlet", "shop-2-outlet"},
		{"shop_v2", "shop-v2"},
		{"2024", "2024"},
		{"!!!", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.Slug(tt.name); got != tt.want {
				t.Errorf("Slug(%q) = %q, expected %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestLookupPlatformKnownAndUnknown(t *testing.T) {
	info, ok := domain.LookupPlatform("WOOCOMMERCE")
	if !ok {
		t.Fatal("LookupPlatform(WOOCOMMERCE) found nothing")
	}
	if info.Name != "WooCommerce" || info.Category != domain.CategoryShop || !info.OpenSourceShop {
		t.Errorf("LookupPlatform(WOOCOMMERCE) = %+v, expected WooCommerce, SHOP, open source", info)
	}

	for _, unknown := range []domain.Platform{"", "woocommerce", "SAP"} {
		if _, ok := domain.LookupPlatform(unknown); ok {
			t.Errorf("LookupPlatform(%q) found a platform", unknown)
		}
	}
}

func TestPlatformsAreWellFormed(t *testing.T) {
	all := domain.Platforms()
	if len(all) == 0 {
		t.Fatal("Platforms() is empty")
	}
	seen := map[domain.Platform]bool{}
	for _, info := range all {
		if seen[info.Platform] {
			t.Errorf("platform %s is listed twice", info.Platform)
		}
		seen[info.Platform] = true
		if info.Name == "" {
			t.Errorf("platform %s has no name", info.Platform)
		}
		if info.Category == "" {
			t.Errorf("platform %s has no category", info.Platform)
		}
		if info.OpenSourceShop && info.Category != domain.CategoryShop {
			t.Errorf("platform %s is an open-source shop in category %s", info.Platform, info.Category)
		}
	}

	all[0].Name = "Changed"
	if domain.Platforms()[0].Name == "Changed" {
		t.Error("changing the slice from Platforms() changed the platform list")
	}
}

func TestSystemCategoryAndOpenSource(t *testing.T) {
	tests := []struct {
		system     domain.System
		category   domain.SystemCategory
		openSource bool
	}{
		{wooShop, domain.CategoryShop, true},
		{domain.System{ID: "m", Name: "M", Platform: "MAGENTO"}, domain.CategoryShop, true},
		{domain.System{ID: "p", Name: "P", Platform: "PRESTASHOP"}, domain.CategoryShop, true},
		{shopify, domain.CategoryShop, false},
		{fortnox, domain.CategoryERP, false},
		{klarna, domain.CategoryPayment, false},
		{postnord, domain.CategoryLogistics, false},
		{domain.System{ID: "a", Name: "A", Platform: "AMAZON"}, domain.CategoryMarketplace, false},
		{domain.System{ID: "x", Name: "X", Platform: "UNKNOWN"}, "", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.system.Platform), func(t *testing.T) {
			if got := tt.system.Category(); got != tt.category {
				t.Errorf("Category() = %q, expected %q", got, tt.category)
			}
			if got := tt.system.OpenSourceShop(); got != tt.openSource {
				t.Errorf("OpenSourceShop() = %t, expected %t", got, tt.openSource)
			}
		})
	}
}
