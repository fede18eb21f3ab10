package readmodel_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// listFixture holds projects in several states, in start order:
//
//	0 active, customer-a, preparation, waiting
//	1 active, customer-b, product-orders-logistics
//	2 completed, customer-a
//	3 cancelled, customer-c
//	4 active, customer-b, preparation
type listFixture struct {
	models *readmodel.Models
	ids    []string
}

func newListFixture(t *testing.T) listFixture {
	t.Helper()
	models := readmodel.NewModels()
	s := newScenario(t, models)
	f := listFixture{models: models}
	for i, customer := range []string{"customer-a", "customer-b", "customer-a", "customer-c", "customer-b"} {
		f.ids = append(f.ids, s.start(hours(float64(i)), hostedStart(customer)))
	}
	s.do(f.ids[0], hours(10), domain.MarkWaitingOnCustomer{Reason: "questionnaire not returned"})
	s.completePhase(f.ids[1], hours(10), "preparation")
	s.completeProject(f.ids[2], hours(10))
	s.do(f.ids[3], hours(10), domain.CancelProject{Reason: "contract ended"})
	return f
}

func (f listFixture) pick(indexes ...int) []string {
	ids := make([]string, len(indexes))
	for i, index := range indexes {
		ids[i] = f.ids[index]
	}
	return ids
}

func pageIDs(page *readmodel.Page) []string {
	ids := make([]string, len(page.Projects))
	for i, p := range page.Projects {
		ids[i] = p.ID
	}
	return ids
}

func TestListFilters(t *testing.T) {
	f := newListFixture(t)
	yes, no := true, false
	cases := []struct {
		name   string
		filter readmodel.ProjectFilter
		want   []int
	}{
		{"no filter", readmodel.ProjectFilter{}, []int{0, 1, 2, 3, 4}},
		{"active", readmodel.ProjectFilter{Status: domain.StatusActive}, []int{0, 1, 4}},
		{"completed", readmodel.ProjectFilter{Status: domain.StatusCompleted}, []int{2}},
		{"cancelled", readmodel.ProjectFilter{Status: domain.StatusCancelled}, []int{3}},
		{"phase preparation", readmodel.ProjectFilter{PhaseID: "preparation"}, []int{0, 4}},
		{"phase of orders", readmodel.ProjectFilter{PhaseID: "product-orders-logistics"}, []int{1}},
		{"phase without projects", readmodel.ProjectFilter{PhaseID: "completion"}, nil},
		{"customer", readmodel.ProjectFilter{CustomerID: "customer-a"}, []int{0, 2}},
		{"unknown customer", readmodel.ProjectFilter{CustomerID: "customer-z"}, nil},
		{"waiting", readmodel.ProjectFilter{Waiting: &yes}, []int{0}},
		{"not waiting", readmodel.ProjectFilter{Waiting: &no}, []int{1, 2, 3, 4}},
		{"customer and phase", readmodel.ProjectFilter{CustomerID: "customer-b", PhaseID: "preparation"}, []int{4}},
		{"active and not waiting", readmodel.ProjectFilter{Status: domain.StatusActive, Waiting: &no}, []int{1, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			page, err := f.models.List(c.filter, readmodel.MaxPageSize, "")
			if err != nil {
				t.Fatalf("List failed: %v", err)
			}

			if got, want := pageIDs(page), f.pick(c.want...); !slices.Equal(got, want) {
				t.Errorf("projects = %q, expected %q", got, want)
			}
			if page.TotalCount != len(c.want) {
				t.Errorf("total count = %d, expected %d", page.TotalCount, len(c.want))
			}
			if len(page.Cursors) != len(page.Projects) {
				t.Errorf("%d cursors for %d projects, expected one each", len(page.Cursors), len(page.Projects))
			}
			if page.HasNext || page.HasPrevious {
				t.Errorf("hasNext = %v, hasPrevious = %v on the only page, expected both false", page.HasNext, page.HasPrevious)
			}
		})
	}
}

func TestListPagination(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	var all, customerB []string
	for i := range 7 {
		customer := "customer-a"
		if i%3 == 1 {
			customer = "customer-b"
		}
		id := s.start(hours(float64(i)), hostedStart(customer))
		all = append(all, id)
		if customer == "customer-b" {
			customerB = append(customerB, id)
		}
	}

	cases := []struct {
		filter readmodel.ProjectFilter
		want   []string
	}{
		{readmodel.ProjectFilter{}, all},
		{readmodel.ProjectFilter{CustomerID: "customer-b"}, customerB},
	}
	for _, c := range cases {
		for _, first := range []int{1, 2, 3, 7, 8} {
			t.Run(fmt.Sprintf("customer %q first %d", c.filter.CustomerID, first), func(t *testing.T) {
				var seen []string
				after := ""
				for pageNumber := 0; ; pageNumber++ {
					if pageNumber > len(c.want) {
						t.Fatalf("still paging after %d pages", pageNumber)
					}
					page, err := models.List(c.filter, first, after)
					if err != nil {
						t.Fatalf("List(first %d, after %q) failed: %v", first, after, err)
					}
					seen = append(seen, pageIDs(page)...)
					remaining := len(c.want) - len(seen)

					if page.TotalCount != len(c.want) {
						t.Errorf("page %d: total count = %d, expected %d", pageNumber, page.TotalCount, len(c.want))
					}
					if page.HasPrevious != (pageNumber > 0) {
						t.Errorf("page %d: hasPrevious = %v, expected %v", pageNumber, page.HasPrevious, pageNumber > 0)
					}
					if page.HasNext != (remaining > 0) {
						t.Errorf("page %d: hasNext = %v with %d projects left, expected %v", pageNumber, page.HasNext, remaining, remaining > 0)
					}
					if len(page.Projects) > first {
						t.Errorf("page %d has %d projects, expected at most %d", pageNumber, len(page.Projects), first)
					}
					if !page.HasNext || len(page.Cursors) == 0 {
						break
					}
					after = page.Cursors[len(page.Cursors)-1]
				}

				if !slices.Equal(seen, c.want) {
					t.Errorf("pages returned %q, expected every project once in start order %q", seen, c.want)
				}
			})
		}
	}
}

func TestListFirstZero(t *testing.T) {
	f := newListFixture(t)

	page, err := f.models.List(readmodel.ProjectFilter{}, 0, "")

	if err != nil {
		t.Fatalf("List(first 0) failed: %v", err)
	}
	if len(page.Projects) != 0 {
		t.Errorf("List(first 0) returned %d projects, expected none", len(page.Projects))
	}
	if !page.HasNext {
		t.Error("List(first 0) hasNext = false with 5 projects, expected true")
	}
	if page.TotalCount != 5 {
		t.Errorf("List(first 0) total count = %d, expected 5", page.TotalCount)
	}
}

func TestListRejectsInvalidInput(t *testing.T) {
	f := newListFixture(t)
	encode := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name  string
		first int
		after string
		field string
	}{
		{"first negative", -1, "", "first"},
		{"first above maximum", readmodel.MaxPageSize + 1, "", "first"},
		{"cursor not base64", 10, "not a cursor!", "after"},
		{"cursor without prefix", 10, encode("3"), "after"},
		{"cursor index not a number", 10, encode("project:three"), "after"},
		{"cursor index negative", 10, encode("project:-1"), "after"},
		{"event position cursor", 10, eventstore.Position{Commit: 3, Prepare: 3}.Cursor(), "after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			page, err := f.models.List(readmodel.ProjectFilter{}, c.first, c.after)

			if err == nil {
				t.Fatalf("List(first %d, after %q) returned %d projects and no error, expected a *domain.Error", c.first, c.after, len(page.Projects))
			}
			var de *domain.Error
			if !errors.As(err, &de) {
				t.Fatalf("error = %v (%T), expected a *domain.Error", err, err)
			}
			if de.Kind != domain.KindInvalid {
				t.Errorf("error kind = %s, expected %s", de.Kind, domain.KindInvalid)
			}
			if de.Field != c.field {
				t.Errorf("error field = %q, expected %q", de.Field, c.field)
			}
		})
	}

	t.Run("maximum page size", func(t *testing.T) {
		if _, err := f.models.List(readmodel.ProjectFilter{}, readmodel.MaxPageSize, ""); err != nil {
			t.Errorf("List(first %d) failed: %v", readmodel.MaxPageSize, err)
		}
	})
}
