package domain

func confirmation(id, en, sv string) *Question {
	return &Question{ID: id, Kind: KindConfirmation, Required: true, Text: Text{en, sv}}
}

// newTemplateV1 builds version 1 of the onboarding process.
func newTemplateV1() *Template {
	t := &Template{Version: 1}
	t.Phases = []*Phase{
		{
			ID:            "preparation",
			Title:         Text{"Customer preparation", "Kundförberedelser"},
			Applicability: Always,
			Steps: []*Step{
				{
					ID:              "collect-information",
					Title:           Text{"Collecting information", "Insamling av information"},
					Description:     Text{"Shortly after the order the vendor contacts the customer and collects logins, API credentials, contacts and the questionnaire.", "Kort efter beställningen kontaktar leverantören kunden och samlar in inloggningar, API-uppgifter, kontakter och frågeformuläret."},
					RequiresContact: true,
					Questions: []*Question{
						{ID: "platform-login", Kind: KindSecret, Required: true,
							Text: Text{"Login details for the integration platform", "Inloggningsuppgifter till integrationsplattformen"}},
						{ID: "api-credentials", Kind: KindSecret, Required: true, PerSystem: true,
							Text: Text{"API credentials for this system", "API-uppgifter för detta system"}},
						{ID: "api-endpoint", Kind: KindText, Required: true, PerSystem: true,
							Text: Text{"API endpoint (URL) of this system", "API-adress (URL) för detta system"}},
						confirmation("questionnaire-returned", "The customer has returned the questionnaire", "Kunden har skickat in frågeformuläret"),
					},
				},
				{
					ID:            "install-plugin",
					Title:         Text{"Installing the plugin", "Installation av plugin"},
					Description:   Text{"The vendor's plugin extends the open-source shop platform's API and must be installed before the services are enabled.", "Leverantörens plugin utökar den öppna e-handelsplattformens API och måste installeras innan tjänsterna aktiveras."},
					Applicability: WithOpenSourceShop,
					Questions: []*Question{
						confirmation("plugin-installed", "The plugin is installed and reachable", "Pluginet är installerat och nåbart"),
					},
				},
				{
					ID:          "product-data",
					Title:       Text{"Product data", "Produktdata"},
					Description: Text{"Minimum data quality before the integration starts.", "Lägsta datakvalitet innan integrationen startar."},
					Questions: []*Question{
						confirmation("unique-sku", "Every item has a unique SKU (article number)", "Varje artikel har ett unikt artikelnummer (SKU)"),
						confirmation("prices-state-vat", "Prices in the shop system state VAT", "Priserna i butikssystemet anger moms"),
						confirmation("valid-product-names", "Product names contain no invalid characters", "Produktnamnen innehåller inga ogiltiga tecken"),
					},
				},
				{
					ID:          "flows",
					Title:       Text{"Deciding on flows", "Beslut om flöden"},
					Description: Text{"Which system is master for products, prices and stock.", "Vilket system som är master för produkter, priser och lager."},
					Questions: []*Question{
						{ID: "product-master", Kind: KindSystem, Required: true,
							Text: Text{"Which system is master for creating and updating products?", "Vilket system är master för att skapa och uppdatera produkter?"}},
						{ID: "price-master", Kind: KindSystem, Required: true,
							Text: Text{"Which system is master for prices?", "Vilket system är master för priser?"}},
						{ID: "stock-master", Kind: KindSystem, Required: true,
							Text: Text{"Which system is master for stock levels?", "Vilket system är master för lagersaldon?"}},
						{ID: "sync-stock", Kind: KindBoolean, Required: true,
							Text: Text{"Should available stock be synchronised to the other systems?", "Ska tillgängligt lager synkroniseras till de andra systemen?"}},
					},
				},
				{
					ID:          "order-status-invoices",
					Title:       Text{"Order status and customer invoices", "Orderstatus och kundfakturor"},
					Description: Text{"How orders are collected, booked and marked as shipped.", "Hur order hämtas, bokförs och markeras som skickade."},
					Questions: []*Question{
						{ID: "collect-order-status", Kind: KindText, Required: true,
							Text: Text{"At which order status does the platform collect orders from the shop?", "Vid vilken orderstatus hämtar plattformen order från butiken?"}},
						{ID: "order-document", Kind: KindChoice, Required: true,
							Text: Text{"Does a shop order become an order or a customer invoice in the accounting system?", "Blir en butiksorder en order eller en kundfaktura i ekonomisystemet?"},
							Options: []Option{
								{"ORDER", Text{"Order", "Order"}},
								{"CUSTOMER_INVOICE", Text{"Customer invoice", "Kundfaktura"}},
							}},
						{ID: "invoice-handling", Kind: KindChoice, Required: true,
							Text: Text{"Is a customer invoice closed and booked automatically or left open for manual handling?", "Stängs och bokförs en kundfaktura automatiskt eller lämnas den öppen för manuell hantering?"},
							Options: []Option{
								{"BOOK_AUTOMATICALLY", Text{"Close and book automatically", "Stäng och bokför automatiskt"}},
								{"LEAVE_OPEN", Text{"Leave open for manual handling", "Lämna öppen för manuell hantering"}},
							}},
						{ID: "shipped-order-status", Kind: KindText, Required: true,
							Text: Text{"Which order status is set in the shop once the order is shipped or invoiced?", "Vilken orderstatus sätts i butiken när ordern är skickad eller fakturerad?"}},
					},
				},
				{
					ID:            "settlement-accounting",
					Title:         Text{"Settlement accounting", "Avräkningsbokföring"},
					Description:   Text{"Ledger accounts for booking sales, fees and payouts.", "Bokföringskonton för försäljning, avgifter och utbetalningar."},
					Applicability: WithSettlement,
					Questions: []*Question{
						{ID: "sales-account", Kind: KindNumber, Required: true,
							Text: Text{"Ledger account for sales", "Bokföringskonto för försäljning"}},
						{ID: "fees-account", Kind: KindNumber, Required: true,
							Text: Text{"Ledger account for fees", "Bokföringskonto för avgifter"}},
						{ID: "payouts-account", Kind: KindNumber, Required: true,
							Text: Text{"Ledger account for payouts", "Bokföringskonto för utbetalningar"}},
					},
				},
				{
					ID:          "system-requirements",
					Title:       Text{"System requirements", "Systemkrav"},
					Description: Text{"Requirements of each connected system to check before configuration: version, modules and API access.", "Krav på varje anslutet system som kontrolleras före konfigurationen: version, moduler och API-åtkomst."},
					Questions: []*Question{
						{ID: "requirements-met", Kind: KindConfirmation, Required: true, PerSystem: true,
							Text: Text{"This system meets the requirements (version, modules, API access)", "Systemet uppfyller kraven (version, moduler, API-åtkomst)"}},
						{ID: "requirements-notes", Kind: KindText, PerSystem: true,
							Text: Text{"Notes on this system's version and modules", "Anteckningar om systemets version och moduler"}},
					},
				},
			},
		},
		{
			ID:            "product-orders-logistics",
			Title:         Text{"Product data, orders and logistics", "Produktdata, order och logistik"},
			Applicability: Always,
			Steps: []*Step{
				{
					ID:          "product-sync",
					Title:       Text{"Product data download", "Hämtning av produktdata"},
					Description: Text{"Product data is loaded into the platform and passed on to the sales channels.", "Produktdata läses in i plattformen och förs vidare till försäljningskanalerna."},
					Questions: []*Question{
						confirmation("products-loaded", "Product data is loaded into the platform and passed on to the sales channels", "Produktdata är inläst i plattformen och vidareskickad till försäljningskanalerna"),
					},
				},
				{
					ID:          "order-flow",
					Title:       Text{"Order flow", "Orderflöde"},
					Description: Text{"Order retrieval from the sales channels is configured and orders are forwarded to the ERP or accounting system.", "Orderhämtning från försäljningskanalerna är konfigurerad och order skickas vidare till affärs- eller ekonomisystemet."},
					Questions: []*Question{
						confirmation("order-flow-configured", "Order retrieval and forwarding are configured", "Orderhämtning och vidarebefordran är konfigurerade"),
					},
				},
				{
					ID:          "logistics",
					Title:       Text{"Logistics", "Logistik"},
					Description: Text{"Transport administration and logistics are configured, and tracking numbers flow back to the order where possible.", "Transportadministration och logistik är konfigurerade och spårningsnummer förs tillbaka till ordern där det går."},
					Questions: []*Question{
						confirmation("logistics-configured", "Transport administration and logistics are configured", "Transportadministration och logistik är konfigurerade"),
						{ID: "tracking-numbers", Kind: KindBoolean, Required: true,
							Text: Text{"Do tracking numbers flow back to the order in the shop or marketplace?", "Förs spårningsnummer tillbaka till ordern i butiken eller på marknadsplatsen?"}},
					},
				},
				{
					ID:          "order-testing",
					Title:       Text{"Testing orders and invoices", "Test av order och fakturor"},
					Description: Text{"Tests run together with the customer.", "Tester som görs tillsammans med kunden."},
					Tests: []*Test{
						{ID: "joint-test-run", Title: Text{"Joint test run", "Gemensam testkörning"},
							Description: Text{"A test run together with the customer.", "En testkörning tillsammans med kunden."}},
						{ID: "test-purchase", Title: Text{"Test purchase", "Testköp"},
							Description: Text{"The customer places a real purchase in the sales channel and the whole chain is verified.", "Kunden gör ett riktigt köp i försäljningskanalen och hela kedjan kontrolleras."}},
					},
				},
			},
		},
		{
			ID:            "settlement",
			Title:         Text{"Transaction data and settlement", "Transaktionsdata och avräkning"},
			Applicability: WithSettlement,
			Steps: []*Step{
				{
					ID:          "settlement-data",
					Title:       Text{"Transaction data", "Transaktionsdata"},
					Description: Text{"Transaction data and payment files from each payment provider. This step may wait days for files.", "Transaktionsdata och betalfiler från varje betalleverantör. Steget kan vänta flera dagar på filer."},
					Questions: []*Question{
						{ID: "payment-files-received", Kind: KindConfirmation, Required: true, PerSystem: true, SystemCategories: []SystemCategory{CategoryPayment},
							Text: Text{"Transaction data and payment files are received from this payment provider", "Transaktionsdata och betalfiler har tagits emot från denna betalleverantör"}},
						{ID: "payment-api-key", Kind: KindSecret, Required: true, PerSystem: true, SystemCategories: []SystemCategory{CategoryPayment},
							Text: Text{"API key for this payment provider", "API-nyckel för denna betalleverantör"}},
						{ID: "recording-account", Kind: KindNumber, Required: true,
							Text: Text{"Bookkeeping account for recording settlements", "Bokföringskonto för avräkningar"}},
					},
				},
				{
					ID:          "settlement-testing",
					Title:       Text{"Settlement testing", "Test av avräkning"},
					Description: Text{"A test with the customer; the customer's VAT-reporting and bookkeeping staff confirm the result.", "Ett test med kunden; kundens ansvariga för momsredovisning och bokföring bekräftar resultatet."},
					Questions: []*Question{
						confirmation("bookkeeping-confirmed", "The customer's VAT-reporting and bookkeeping staff confirmed the result", "Kundens ansvariga för momsredovisning och bokföring har bekräftat resultatet"),
					},
					Tests: []*Test{
						{ID: "settlement-test-run", Title: Text{"Settlement test run", "Testkörning av avräkning"},
							Description: Text{"Settlements are booked for a test period and checked with the customer.", "Avräkningar bokförs för en testperiod och kontrolleras med kunden."}},
					},
				},
			},
		},
		{
			ID:            "logs-reports",
			Title:         Text{"Log files and reports", "Loggfiler och rapporter"},
			Applicability: Always,
			Steps: []*Step{
				{
					ID:          "troubleshooting-review",
					Title:       Text{"Troubleshooting review", "Genomgång av felsökning"},
					Description: Text{"The vendor walks the customer through the platform's help, logs and user administration.", "Leverantören går igenom plattformens hjälp, loggar och användaradministration med kunden."},
					Questions: []*Question{
						confirmation("information-sources-shown", "The customer knows where to find more information on the platform", "Kunden vet var mer information om plattformen finns"),
						confirmation("log-handling-shown", "The customer knows how to handle log files and error notifications", "Kunden vet hur loggfiler och felaviseringar hanteras"),
						confirmation("user-admin-shown", "The customer knows how to add users", "Kunden vet hur användare läggs till"),
					},
				},
			},
		},
		{
			ID:            "completion",
			Title:         Text{"Completion", "Avslut"},
			Applicability: Always,
			Steps: []*Step{
				{
					ID:          "handover",
					Title:       Text{"Completion and handover to Support & Service", "Överlämning till support"},
					Description: Text{"The project is handed over to the Support & Service team.", "Projektet lämnas över till Support & Service."},
					Questions: []*Question{
						confirmation("handed-over", "The project is handed over to Support & Service", "Projektet är överlämnat till Support & Service"),
						{ID: "handover-notes", Kind: KindText,
							Text: Text{"Notes for Support & Service", "Anteckningar till Support & Service"}},
					},
				},
			},
		},
	}
	return t.index()
}
