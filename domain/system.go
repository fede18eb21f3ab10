package domain

import (
	"sort"
	"strings"
	"unicode"
)

// SystemCategory is the role a connected system plays in the integration.
type SystemCategory string

// System categories.
const (
	CategoryShop        SystemCategory = "SHOP"
	CategoryMarketplace SystemCategory = "MARKETPLACE"
	CategoryERP         SystemCategory = "ERP"
	CategoryLogistics   SystemCategory = "LOGISTICS"
	CategoryPayment     SystemCategory = "PAYMENT"
	CategoryOther       SystemCategory = "OTHER"
)

// Platform is the product a connected system runs on, such as WOOCOMMERCE.
type Platform string

// PlatformInfo describes a known platform.
type PlatformInfo struct {
	Platform Platform
	Name     string
	Category SystemCategory
	// OpenSourceShop is true for self-hosted, open-source shop platforms,
	// which need the vendor's plugin installed.
	OpenSourceShop bool
}

// platforms lists every platform a connected system may run on.
var platforms = []PlatformInfo{
	{"WOOCOMMERCE", "WooCommerce", CategoryShop, true},
	{"MAGENTO", "Magento (Adobe Commerce open source)", CategoryShop, true},
	{"PRESTASHOP", "PrestaShop", CategoryShop, true},
	{"SHOPWARE", "Shopware", CategoryShop, true},
	{"OPENCART", "OpenCart", CategoryShop, true},
	{"SHOPIFY", "Shopify", CategoryShop, false},
	{"BIGCOMMERCE", "BigCommerce", CategoryShop, false},
	{"WIKINGGRUPPEN", "Wikinggruppen", CategoryShop, false},
	{"CENTRA", "Centra", CategoryShop, false},
	{"OTHER_SHOP", "Other shop platform (hosted)", CategoryShop, false},
	{"AMAZON", "Amazon", CategoryMarketplace, false},
	{"CDON", "CDON", CategoryMarketplace, false},
	{"ZALANDO", "Zalando", CategoryMarketplace, false},
	{"OTHER_MARKETPLACE", "Other marketplace", CategoryMarketplace, false},
	{"FORTNOX", "Fortnox", CategoryERP, false},
	{"VISMA", "Visma", CategoryERP, false},
	{"BUSINESS_CENTRAL", "Microsoft Dynamics 365 Business Central", CategoryERP, false},
	{"OTHER_ERP", "Other ERP or accounting system", CategoryERP, false},
	{"POSTNORD", "PostNord", CategoryLogistics, false},
	{"DHL", "DHL", CategoryLogistics, false},
	{"NSHIFT", "nShift", CategoryLogistics, false},
	{"OTHER_LOGISTICS", "Other transport administration", CategoryLogistics, false},
	{"KLARNA", "Klarna", CategoryPayment, false},
	{"STRIPE", "Stripe", CategoryPayment, false},
	{"ADYEN", "Adyen", CategoryPayment, false},
	{"PAYPAL", "PayPal", CategoryPayment, false},
	{"SWISH", "Swish", CategoryPayment, false},
	{"OTHER_PAYMENT", "Other payment provider", CategoryPayment, false},
	{"OTHER", "Other system", CategoryOther, false},
}

// Platforms returns every known platform.
func Platforms() []PlatformInfo {
	return append([]PlatformInfo(nil), platforms...)
}

// LookupPlatform returns the description of p and whether p is known.
func LookupPlatform(p Platform) (PlatformInfo, bool) {
	for _, info := range platforms {
		if info.Platform == p {
			return info, true
		}
	}
	return PlatformInfo{}, false
}

func platformNames() string {
	names := make([]string, len(platforms))
	for i, info := range platforms {
		names[i] = string(info.Platform)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// System is a connected system of a project.
type System struct {
	// ID is a slug of Name, unique within the project, such as "woocommerce-shop".
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Platform Platform `json:"platform"`
}

// Category returns the category of the system's platform.
func (s System) Category() SystemCategory {
	info, _ := LookupPlatform(s.Platform)
	return info.Category
}

// OpenSourceShop reports whether the system is an open-source shop platform.
func (s System) OpenSourceShop() bool {
	info, _ := LookupPlatform(s.Platform)
	return info.OpenSourceShop
}

// SystemInput is a connected system as a command names it.
type SystemInput struct {
	Name     string
	Platform Platform
}

// Slug turns a name into a lowercase id of letters, digits and dashes.
func Slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r == 'å' || r == 'ä':
			r = 'a'
		case r == 'ö':
			r = 'o'
		}
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}
