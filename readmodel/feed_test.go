package readmodel_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/readmodel"
)

func TestFeedRoutesChangesByProject(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	a := s.start(hours(0), hostedStart("customer-a"))
	b := s.start(hours(0), hostedStart("customer-b"))
	feed := models.Feed()
	subA := feed.Subscribe(a, false)
	defer subA.Close()
	subB := feed.Subscribe(b, false)
	defer subB.Close()
	all := feed.Subscribe("", false)
	defer all.Close()

	s.do(a, hours(1), domain.LogTime{Hours: 1, Description: "a1"})
	s.do(b, hours(1), domain.LogTime{Hours: 1, Description: "b1"}, domain.LogTime{Hours: 1, Description: "b2"})
	s.do(a, hours(2), domain.LogTime{Hours: 1, Description: "a2"})
	c := s.start(hours(3), hostedStart("customer-c"))

	cases := []struct {
		name string
		sub  *readmodel.Subscription
		want []string
	}{
		{"project a", subA, []string{a, a}},
		{"project b", subB, []string{b, b}},
		{"all projects", all, []string{a, b, b, a, c}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			changes := drain(tc.sub)

			if got := projectIDs(changes); !slices.Equal(got, tc.want) {
				t.Errorf("changes of projects %q, expected %q", got, tc.want)
			}
			for i := 1; i < len(changes); i++ {
				if !changes[i-1].Envelope.Position.Less(changes[i].Envelope.Position) {
					t.Errorf("change %d at %s does not follow change %d at %s", i, changes[i].Envelope.Position, i-1, changes[i-1].Envelope.Position)
				}
			}
		})
	}
}

func TestFeedAttachesRequestedViews(t *testing.T) {
	cases := []struct {
		name      string
		projectID func(id string) string
		views     bool
	}{
		{"project without views", func(id string) string { return id }, false},
		{"project with views", func(id string) string { return id }, true},
		{"all without views", func(string) string { return "" }, false},
		{"all with views", func(string) string { return "" }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			models := readmodel.NewModels()
			s := newScenario(t, models)
			id := s.start(hours(0), hostedStart("customer-1"))
			sub := models.Feed().Subscribe(c.projectID(id), c.views)

			s.do(id, hours(1), domain.LogTime{Hours: 1.5, Description: "kickoff"})
			sub.Close()
			changes := drain(sub)

			if len(changes) != 1 {
				t.Fatalf("%d changes, expected 1", len(changes))
			}
			view := changes[0].Project
			if !c.views {
				if view != nil {
					t.Errorf("change carries a view at version %d, expected none without a views subscriber", view.Version)
				}
				return
			}
			if view == nil {
				t.Fatal("change carries no view, expected the view after the event")
			}
			if view.Version != 2 || view.LoggedHours != 1.5 {
				t.Errorf("view has version %d and %v logged hours, expected version 2 with 1.5 hours", view.Version, view.LoggedHours)
			}
		})
	}
}

func TestFeedViewsOnlyForRequestedProject(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	a := s.start(hours(0), hostedStart("customer-a"))
	b := s.start(hours(0), hostedStart("customer-b"))
	feed := models.Feed()
	viewsOfA := feed.Subscribe(a, true)
	defer viewsOfA.Close()
	all := feed.Subscribe("", false)
	defer all.Close()

	s.do(a, hours(1), domain.LogTime{Hours: 1, Description: "a"})
	s.do(b, hours(1), domain.LogTime{Hours: 1, Description: "b"})

	changes := drain(all)
	if len(changes) != 2 {
		t.Fatalf("%d changes, expected 2", len(changes))
	}
	if changes[0].Project == nil || changes[0].Project.ID != a {
		t.Error("change of project a carries no view of a, expected one because a's subscriber asked for views")
	}
	if changes[1].Project != nil {
		t.Errorf("change of project b carries a view, expected none because only project a's subscriber asked for views")
	}
}

// Closing or dropping the last views subscriber stops the feed from
// building views for the project.
func TestFeedStopsViewsAfterClose(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	feed := models.Feed()
	withViews := feed.Subscribe(id, true)
	plain := feed.Subscribe(id, false)
	defer plain.Close()

	s.do(id, hours(1), domain.LogTime{Hours: 1, Description: "first"})
	withViews.Close()
	s.do(id, hours(2), domain.LogTime{Hours: 1, Description: "second"})

	changes := drain(plain)
	if len(changes) != 2 {
		t.Fatalf("%d changes, expected 2", len(changes))
	}
	if changes[0].Project == nil {
		t.Error("change while a views subscriber was open carries no view")
	}
	if changes[1].Project != nil {
		t.Error("change after the views subscriber closed carries a view, expected none")
	}
}

func TestFeedDropsSlowSubscriber(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	feed := models.Feed()
	slow := feed.Subscribe(id, true)
	fast := feed.Subscribe(id, false)
	defer fast.Close()
	cmds := make([]domain.Command, readmodel.SubscriberBuffer+2)
	for i := range cmds {
		cmds[i] = domain.LogTime{Hours: 0.25, Description: fmt.Sprintf("entry %d", i)}
	}
	stored := s.record(id, hours(1), cmds...)

	for i, env := range stored {
		s.apply(env)
		select {
		case change, ok := <-fast.C:
			if !ok {
				t.Fatalf("fast subscriber closed after %d changes: %v", i, fast.Err())
			}
			if change.Envelope.Position != env.Position {
				t.Fatalf("fast subscriber got the change at %s, expected %s", change.Envelope.Position, env.Position)
			}
		default:
			t.Fatalf("fast subscriber has no change after Apply %d returned", i)
		}
		if i == readmodel.SubscriberBuffer-1 && slow.Err() != nil {
			t.Errorf("slow subscriber dropped with %v after %d changes, expected it kept until its buffer of %d overflows", slow.Err(), i+1, readmodel.SubscriberBuffer)
		}
	}

	if slow.Err() != readmodel.ErrSubscriberTooSlow {
		t.Errorf("slow subscriber Err() = %v, expected ErrSubscriberTooSlow", slow.Err())
	}
	buffered := 0
	for range slow.C {
		buffered++
	}
	if buffered != readmodel.SubscriberBuffer {
		t.Errorf("slow subscriber channel held %d changes before it closed, expected %d", buffered, readmodel.SubscriberBuffer)
	}
	if fast.Err() != nil {
		t.Errorf("fast subscriber Err() = %v, expected nil", fast.Err())
	}

	// The dropped subscriber's views request is released as well.
	s.do(id, hours(2), domain.LogTime{Hours: 1, Description: "after the drop"})
	if change := <-fast.C; change.Project != nil {
		t.Error("change after the views subscriber was dropped carries a view, expected none")
	}
}

func TestFeedCloseEndsSubscriptions(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	feed := models.Feed()
	project := feed.Subscribe(id, true)
	all := feed.Subscribe("", false)
	dashboard := feed.SubscribeDashboard()
	<-dashboard.C

	feed.Close()

	for name, sub := range map[string]*readmodel.Subscription{"project": project, "all projects": all} {
		if _, ok := <-sub.C; ok {
			t.Errorf("%s subscription delivered a change after Close, expected its channel closed", name)
		}
		if err := sub.Err(); err != nil {
			t.Errorf("%s subscription Err() = %v after Close, expected nil", name, err)
		}
	}
	if _, ok := <-dashboard.C; ok {
		t.Error("dashboard subscription delivered a dashboard after Close, expected its channel closed")
	}

	late := feed.Subscribe(id, false)
	if _, ok := <-late.C; ok {
		t.Error("Subscribe after Close delivered a change, expected a closed channel")
	}
	s.do(id, hours(1), domain.LogTime{Hours: 1, Description: "after close"})
	project.Close()
	dashboard.Close()
}

func TestSubscriptionCloseIsIdempotent(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	sub := models.Feed().Subscribe(id, false)

	sub.Close()
	sub.Close()
	s.do(id, hours(1), domain.LogTime{Hours: 1, Description: "after close"})

	if changes := drain(sub); len(changes) != 0 {
		t.Errorf("closed subscription delivered %d changes, expected none", len(changes))
	}
	if err := sub.Err(); err != nil {
		t.Errorf("Err() = %v after Close, expected nil", err)
	}
}

func TestSubscribeDashboardUpdates(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	first := s.start(hours(0), hostedStart("customer-1"))
	sub := models.Feed().SubscribeDashboard()
	defer sub.Close()

	select {
	case d := <-sub.C:
		if d.TotalProjects != 1 {
			t.Errorf("first dashboard counts %d projects, expected 1", d.TotalProjects)
		}
	default:
		t.Fatal("SubscribeDashboard returned without a dashboard ready on its channel")
	}

	s.do(first, hours(1), domain.LogTime{Hours: 2, Description: "kickoff"})
	s.start(hours(2), hostedStart("customer-2"))

	deadline := time.After(waitLimit)
	for {
		select {
		case d, ok := <-sub.C:
			if !ok {
				t.Fatal("dashboard subscription closed before an update")
			}
			if d.TotalProjects == 2 && d.LoggedHours == 2 {
				return
			}
		case <-deadline:
			t.Fatalf("no dashboard with 2 projects and 2 logged hours within %s", waitLimit)
		}
	}
}
