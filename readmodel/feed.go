package readmodel

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/integrationplatform/onboarding/eventstore"
)

// Change is one applied event, with the project as it was right after it
// when a subscriber asked for views.
type Change struct {
	Envelope eventstore.Envelope
	// Project is the view after the event; nil when no subscriber of the
	// project asked for views.
	Project *Project
}

// ErrSubscriberTooSlow ends a subscription whose buffer overflowed.
var ErrSubscriberTooSlow = errors.New("subscriber fell behind the change feed and was dropped; subscribe again")

// SubscriberBuffer is the number of changes a subscriber may lag behind
// before it is dropped.
const SubscriberBuffer = 1024

// DashboardInterval is the shortest time between two dashboard updates.
const DashboardInterval = 100 * time.Millisecond

// Subscription receives changes until it is closed.
type Subscription struct {
	// C delivers changes. It is closed when the subscription ends, and Err
	// then returns why.
	C <-chan *Change

	c         chan *Change
	feed      *Feed
	projectID string
	views     bool
	err       error
	done      bool
}

// Err returns why the subscription ended: nil after Close, or
// ErrSubscriberTooSlow.
func (s *Subscription) Err() error {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	return s.err
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	s.feed.removeLocked(s, nil)
}

// DashboardSubscription receives dashboards until it is closed.
type DashboardSubscription struct {
	// C delivers the newest dashboard; older undelivered ones are replaced.
	C    <-chan *Dashboard
	c    chan *Dashboard
	feed *Feed
}

// Close ends the subscription.
func (s *DashboardSubscription) Close() {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	if _, ok := s.feed.dashboards[s]; ok {
		delete(s.feed.dashboards, s)
		close(s.c)
	}
}

// Feed fans changes out to subscribers, indexed by project so that a
// change costs nothing for subscribers of other projects.
type Feed struct {
	// mu guards every field below.
	mu         sync.Mutex
	byProject  map[string]map[*Subscription]struct{}
	all        map[*Subscription]struct{}
	views      map[string]int
	dashboards map[*DashboardSubscription]struct{}

	models        *Models
	lastDashboard time.Time
	timer         *time.Timer
	closed        bool

	// dropped counts subscribers removed with ErrSubscriberTooSlow.
	dropped atomic.Int64
}

func newFeed() *Feed {
	return &Feed{
		byProject:  map[string]map[*Subscription]struct{}{},
		all:        map[*Subscription]struct{}{},
		views:      map[string]int{},
		dashboards: map[*DashboardSubscription]struct{}{},
	}
}

// Subscribe returns a subscription to the changes of one project, or of
// every project when projectID is empty. With views set, each change
// carries the project view after it.
func (f *Feed) Subscribe(projectID string, views bool) *Subscription {
	c := make(chan *Change, SubscriberBuffer)
	s := &Subscription{C: c, c: c, feed: f, projectID: projectID, views: views}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		s.done = true
		close(c)
		return s
	}
	if projectID == "" {
		f.all[s] = struct{}{}
	} else {
		if f.byProject[projectID] == nil {
			f.byProject[projectID] = map[*Subscription]struct{}{}
		}
		f.byProject[projectID][s] = struct{}{}
	}
	if views {
		f.views[projectID]++
	}
	return s
}

// SubscribeDashboard returns a subscription that receives the current
// dashboard at once and a new one after changes, at most once per
// DashboardInterval.
func (f *Feed) SubscribeDashboard() *DashboardSubscription {
	c := make(chan *Dashboard, 1)
	s := &DashboardSubscription{C: c, c: c, feed: f}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		close(c)
		return s
	}
	f.dashboards[s] = struct{}{}
	f.mu.Unlock()

	// The first dashboard is computed after registering, so a change in
	// between schedules a newer one instead of being missed. It is computed
	// outside the feed's lock because the lock order is models, then feed.
	d := f.models.Dashboard()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.dashboards[s]; ok && len(c) == 0 {
		c <- d
	}
	return s
}

// wantsView reports whether a subscriber of the project needs views.
// Callers hold the models' lock: the lock order is models, then feed.
func (f *Feed) wantsView(projectID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.views[projectID] > 0 || f.views[""] > 0
}

func (f *Feed) publish(change *Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.byProject[change.Envelope.ProjectID] {
		f.sendLocked(s, change)
	}
	for s := range f.all {
		f.sendLocked(s, change)
	}
	if len(f.dashboards) > 0 {
		f.scheduleDashboardLocked()
	}
}

func (f *Feed) sendLocked(s *Subscription, change *Change) {
	select {
	case s.c <- change:
	default:
		f.dropped.Add(1)
		f.removeLocked(s, ErrSubscriberTooSlow)
	}
}

// Dropped returns the number of subscribers dropped with
// ErrSubscriberTooSlow since the feed started.
func (f *Feed) Dropped() int64 {
	return f.dropped.Load()
}

func (f *Feed) removeLocked(s *Subscription, err error) {
	if s.done {
		return
	}
	s.done, s.err = true, err
	if s.projectID == "" {
		delete(f.all, s)
	} else {
		delete(f.byProject[s.projectID], s)
		if len(f.byProject[s.projectID]) == 0 {
			delete(f.byProject, s.projectID)
		}
	}
	if s.views {
		f.views[s.projectID]--
		if f.views[s.projectID] == 0 {
			delete(f.views, s.projectID)
		}
	}
	close(s.c)
}

// scheduleDashboardLocked sends a new dashboard now, or when
// DashboardInterval has passed since the last one.
func (f *Feed) scheduleDashboardLocked() {
	if f.timer != nil {
		return
	}
	wait := DashboardInterval - time.Since(f.lastDashboard)
	if wait < 0 {
		wait = 0
	}
	f.timer = time.AfterFunc(wait, f.sendDashboard)
}

func (f *Feed) sendDashboard() {
	d := f.models.Dashboard()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timer = nil
	f.lastDashboard = time.Now()
	for s := range f.dashboards {
		select {
		case <-s.c:
		default:
		}
		s.c <- d
	}
}

// Subscribers returns the number of open change subscriptions.
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.all)
	for _, subs := range f.byProject {
		n += len(subs)
	}
	return n
}

// Close ends every subscription.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, subs := range f.byProject {
		for s := range subs {
			f.removeLocked(s, nil)
		}
	}
	for s := range f.all {
		f.removeLocked(s, nil)
	}
	for s := range f.dashboards {
		delete(f.dashboards, s)
		close(s.c)
	}
	if f.timer != nil {
		f.timer.Stop()
	}
}
