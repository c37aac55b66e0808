package core

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is the side of a link a queue is registered on.
type Direction int

// Directions. Their values match QL_SOURCE and QL_DESTINATION in the C ABI.
const (
	Source      Direction = 1 // the link takes messages from the queue
	Destination Direction = 2 // the link puts messages to the queue
)

func (d Direction) String() string {
	switch d {
	case Source:
		return "source"
	case Destination:
		return "destination"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// Link moves messages from its source queues to its destination queues.
//
// Each source has one publisher goroutine that takes a message and puts it
// to every destination registered at the moment it took it (fan-out);
// several sources feeding one destination make a fan-in. The same payload
// is shared by every destination, never copied.
//
// Publishers run while the link has at least one destination and Stop has
// not been called since the last registration. Registering or
// unregistering a queue never stops the publishers of other sources. A
// publisher stopped while it waits for room in a full destination keeps
// its message and delivers it to the remaining destinations first when it
// starts again, so Stop loses nothing.
type Link struct {
	name string

	mu       sync.Mutex // guards every field below, and the publishers' start and stop
	nextID   int64
	sources  []*source      // in id order
	dests    []*destination // in id order
	retiring []*publisher   // publishers of unregistered sources finishing their message
	started  bool           // a publisher was ever started
	stopped  bool           // Stop was called and nothing was registered since
	closed   bool

	// targets is the copy of dests that publishers read without the lock.
	targets atomic.Pointer[[]*destination]
}

type destination struct {
	id      int64
	q       *Queue
	removed chan struct{} // closed by unregistration, cancels a blocked put

	// retired and inflight let Unregister wait until no publisher puts to
	// the queue any more: a publisher counts itself in before each put and
	// skips the put when retired is set (see enter).
	retired  atomic.Bool
	inflight atomic.Int32
}

// enter reports whether a publisher may put to d, counting the put in
// flight until leave. Unregister sets retired and then waits for inflight
// to reach zero. Both are atomics, so either Unregister reads the count or
// the publisher reads retired.
func (d *destination) enter() bool {
	d.inflight.Add(1)
	if d.retired.Load() {
		d.inflight.Add(-1)
		return false
	}
	return true
}

func (d *destination) leave() { d.inflight.Add(-1) }

// retire stops every put to d: later puts are skipped, a put waiting for
// room is canceled, and retire returns once the puts under way are done.
func (d *destination) retire() {
	d.retired.Store(true)
	close(d.removed)
	for d.inflight.Load() > 0 {
		time.Sleep(10 * time.Microsecond)
	}
}

type source struct {
	id      int64
	q       *Queue
	metrics metrics
	pub     *publisher // nil while no publisher runs

	pending []delivery  // messages a stopped publisher could not finish, in order; guarded by Link.mu
	holding atomic.Bool // a publisher holds a message it has not delivered
}

type publisher struct {
	src    *source
	retire chan struct{} // closed: take no more messages, finish the current one
	stop   chan struct{} // closed: abandon waiting and keep the message as pending
	done   chan struct{} // closed when the goroutine returns

	// pending holds the source's unfinished deliveries, in order. The
	// link hands them over before starting the goroutine and takes them
	// back after done closes; in between only the goroutine touches them.
	pending []delivery
}

// delivery is one message on its way to the destinations that were
// registered when it was taken; next indexes the first not yet served.
type delivery struct {
	m         Message
	targets   []*destination
	next      int
	delivered int  // targets that received the message
	removed   bool // a target was unregistered before it received it
}

// NewLink returns a link with no queues. name labels it in log records.
func NewLink(name string) *Link {
	l := &Link{name: name}
	l.targets.Store(&[]*destination{})
	return l
}

// Name returns the name given to NewLink.
func (l *Link) Name() string { return l.name }

// String names the link in messages: `link "name"`, or `link` when it has
// no name.
func (l *Link) String() string {
	if l.name == "" {
		return "link"
	}
	return fmt.Sprintf("link %q", l.name)
}

// Register adds q in direction dir and returns its id. Ids count up from 1
// across both directions and are never reused. It returns ErrExists when q
// is already registered in either direction.
func (l *Link) Register(q *Queue, dir Direction) (int64, error) {
	if q == nil {
		return 0, fmt.Errorf("%w: queue is nil", ErrInvalid)
	}
	if dir != Source && dir != Destination {
		return 0, fmt.Errorf("%w: direction %d is not source (1) or destination (2)", ErrInvalid, int(dir))
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("%s is %w", l, ErrClosed)
	}
	for _, s := range l.sources {
		if s.q == q {
			return 0, fmt.Errorf("%w: the queue is already registered as source %d of %s", ErrExists, s.id, l)
		}
	}
	for _, d := range l.dests {
		if d.q == q {
			return 0, fmt.Errorf("%w: the queue is already registered as destination %d of %s", ErrExists, d.id, l)
		}
	}

	l.nextID++
	id := l.nextID
	if dir == Source {
		l.sources = append(l.sources, &source{id: id, q: q})
		q.acquire()
	} else {
		l.dests = append(l.dests, &destination{id: id, q: q, removed: make(chan struct{})})
		q.acquire()
		l.publishTargets()
	}
	l.stopped = false
	l.reconcile()
	return id, nil
}

// Unregister detaches the queue with the given id from direction dir. A
// source's publisher finishes the message it holds, then ends. A
// destination gets no message taken after Unregister returns, and a put to
// it that waits for room is abandoned.
func (l *Link) Unregister(id int64, dir Direction) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("%s is %w", l, ErrClosed)
	}

	switch dir {
	case Source:
		for i, s := range l.sources {
			if s.id != id {
				continue
			}
			l.sources = append(l.sources[:i], l.sources[i+1:]...)
			s.q.release()
			if s.pub != nil {
				close(s.pub.retire)
				l.retiring = append(l.retiring, s.pub)
				s.pub = nil
			} else if len(s.pending) > 0 {
				l.abandonAll(s, s.pending)
				s.pending = nil
			}
			l.reconcile()
			return nil
		}
	case Destination:
		for i, d := range l.dests {
			if d.id != id {
				continue
			}
			l.dests = append(l.dests[:i], l.dests[i+1:]...)
			l.reconcile()
			l.publishTargets()
			// When Unregister returns, nothing more reaches the queue, so a
			// consumer that drains it afterwards gets every message.
			d.retire()
			d.q.release()
			return nil
		}
	default:
		return fmt.Errorf("%w: direction %d is not source (1) or destination (2)", ErrInvalid, int(dir))
	}
	return fmt.Errorf("%w: %s has no %s with id %d", ErrNotFound, l, dir, id)
}

// Queue returns the registered queue with the given id.
func (l *Link) Queue(id int64) (*Queue, Direction, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.sources {
		if s.id == id {
			return s.q, Source, nil
		}
	}
	for _, d := range l.dests {
		if d.id == id {
			return d.q, Destination, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: %s has no queue with id %d", ErrNotFound, l, id)
}

// Stop stops every publisher and waits for them to end. Messages they hold
// are kept and delivered first when a later registration starts them
// again. Stopping twice is allowed.
func (l *Link) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	l.reconcile()
	l.stopRetiring()
}

// Close stops the link and detaches every queue; later calls return
// ErrClosed. A message a publisher could not deliver goes back to the
// front of its source when no destination received it yet; otherwise the
// destinations that have room get it and the others are logged.
func (l *Link) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.stopped = true
	l.reconcile()
	l.stopRetiring()
	for _, s := range l.sources {
		if len(s.pending) > 0 {
			l.abandonAll(s, s.pending)
			s.pending = nil
		}
	}
	for _, d := range l.dests {
		d.retire()
	}
	for _, s := range l.sources {
		s.q.release()
	}
	for _, d := range l.dests {
		d.q.release()
	}
	l.sources, l.dests = nil, nil
	l.publishTargets()
	l.closed = true
}

// IsAlive reports whether the link is moving messages: it has a source,
// Stop was not called since the last registration, and no publisher has
// ended because its source closed. A link whose destinations were all
// unregistered is alive: its publishers rest until a destination comes.
// It returns ErrNotStarted when no publisher was ever started.
func (l *Link) IsAlive() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		return false, ErrNotStarted
	}
	if l.stopped || l.closed || len(l.sources) == 0 {
		return false, nil
	}
	for _, s := range l.sources {
		if s.pub != nil && isDone(s.pub.done) {
			return false, nil
		}
	}
	return true, nil
}

// IsEmpty reports whether every registered queue is empty and no
// publisher holds a message. With id > 0 it checks that queue and every
// source instead of all queues.
func (l *Link) IsEmpty(id int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	found := id <= 0
	for _, s := range l.sources {
		if s.id == id {
			found = true
		}
		if s.q.Len() > 0 || s.holding.Load() || len(s.pending) > 0 {
			return false, nil
		}
	}
	for _, p := range l.retiring {
		if !isDone(p.done) {
			return false, nil
		}
	}
	for _, d := range l.dests {
		if d.id == id {
			found = true
		}
		if (id <= 0 || d.id == id) && d.q.Len() > 0 {
			return false, nil
		}
	}
	if !found {
		return false, fmt.Errorf("%w: %s has no queue with id %d", ErrNotFound, l, id)
	}
	return true, nil
}

// IsDrained reports false before any publisher started, else IsEmpty(0).
func (l *Link) IsDrained() bool {
	l.mu.Lock()
	started := l.started
	l.mu.Unlock()
	if !started {
		return false
	}
	empty, _ := l.IsEmpty(0)
	return empty
}

// Metrics returns a snapshot of every source's metrics in id order.
func (l *Link) Metrics() []SourceMetrics {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SourceMetrics, 0, len(l.sources))
	for _, s := range l.sources {
		out = append(out, s.metrics.snapshot(s.id))
	}
	return out
}

// publishTargets hands the publishers a fresh copy of dests. Callers hold mu.
func (l *Link) publishTargets() {
	targets := make([]*destination, len(l.dests))
	copy(targets, l.dests)
	l.targets.Store(&targets)
}

// reconcile starts or stops publishers so that they run exactly when the
// link is open, not stopped and has a destination. Callers hold mu.
// Publishers never take mu, so waiting for them here cannot deadlock.
func (l *Link) reconcile() {
	run := !l.closed && !l.stopped && len(l.dests) > 0
	for _, s := range l.sources {
		switch {
		case run && (s.pub == nil || isDone(s.pub.done)):
			s.pub = &publisher{
				src:     s,
				retire:  make(chan struct{}),
				stop:    make(chan struct{}),
				done:    make(chan struct{}),
				pending: s.pending,
			}
			if len(s.pending) > 0 {
				s.holding.Store(true)
				s.pending = nil
			}
			l.started = true
			log().Debug("publisher started", "link", l.name, "source", s.id)
			go l.publish(s.pub)
		case !run && s.pub != nil:
			close(s.pub.stop)
			<-s.pub.done
			s.pending = s.pub.pending
			s.pub = nil
			log().Debug("publisher stopped", "link", l.name, "source", s.id)
		}
	}
}

// stopRetiring stops the publishers of unregistered sources. Callers hold mu.
func (l *Link) stopRetiring() {
	for _, p := range l.retiring {
		close(p.stop)
		<-p.done
	}
	l.retiring = nil
}

// publishBatch is how many messages a publisher takes from its source
// under one lock.
const publishBatch = 64

// publish is a publisher's goroutine. It takes messages from its source in
// batches. A batch goes to each destination under one lock where the
// destination has room for all of it; the rest is delivered message by
// message, in order. When a stop interrupts a batch, the messages not yet
// delivered everywhere are kept, in order, and delivered first when the
// publisher starts again.
func (l *Link) publish(p *publisher) {
	defer close(p.done)
	s := p.src
	defer s.holding.Store(false)

	if pending := p.pending; len(pending) > 0 {
		p.pending = nil
		for i := range pending {
			if !l.deliver(p, &pending[i]) {
				l.keep(p, pending[i:])
				return
			}
		}
		s.holding.Store(false)
	}
	batch := make([]Message, 0, publishBatch)
	for {
		// get takes a waiting message even when a cancel channel is
		// closed, so check first that the publisher may take another.
		if isDone(p.stop) || isDone(p.retire) {
			return
		}
		var err error
		batch, _, err = s.q.getBatch(batch[:0], publishBatch, math.MaxInt, -1, p.retire, p.stop, &s.holding)
		if err != nil {
			if err == ErrClosed {
				log().Info("source closed, publisher ended", "link", l.name, "source", s.id)
			}
			return
		}

		targets := *l.targets.Load()
		if len(targets) == 0 {
			// The last destination was unregistered after the get began:
			// put the batch back rather than deliver it to nobody.
			l.putBack(s, batch)
			clear(batch)
			s.holding.Store(false)
			select {
			case <-p.stop:
				return
			case <-p.retire:
				return
			case <-time.After(time.Millisecond):
			}
			continue
		}
		if !l.deliverBatch(p, batch, targets, nanotime()) {
			return
		}
		clear(batch) // drop payload references for the collector
		s.holding.Store(false)
	}
}

// deliverBatch delivers a batch to targets. Each target in turn takes the
// whole batch under one lock while it has room; from the first target that
// does not, messages go one by one. It reports false when a stop
// interrupted it; the undelivered rest is then kept (see keep).
// Metrics count each message once, when its delivery starts, with the
// wait it had until now, when the batch was taken.
func (l *Link) deliverBatch(p *publisher, batch []Message, targets []*destination, now int64) bool {
	s := p.src
	full, taken := 0, 0 // targets[:full] took the batch; targets[full] took batch[:taken]
	if l.batchFits(batch, targets) {
		full = len(targets)
		for i, t := range targets {
			if !t.enter() {
				full = i // unregistered meanwhile: deliver skips it
				break
			}
			n, err := t.q.putAvailable(batch)
			t.leave()
			if err != nil || n < len(batch) {
				full, taken = i, n // another producer took the room meanwhile
				break
			}
		}
	}
	if full == len(targets) {
		s.metrics.recordBatch(now, batch)
		_ = s.q.taskDoneN(len(batch))
		return true
	}

	progress := func(i int) delivery {
		next := full
		if i < taken {
			next = full + 1
		}
		return delivery{m: batch[i], targets: targets, next: next, delivered: next}
	}
	for i := range batch {
		d := progress(i)
		s.metrics.record(now - d.m.putAt)
		if l.deliver(p, &d) {
			continue
		}
		// Keep this message and every later one that some destination
		// has; those that none has yet go back to the source.
		kept := []delivery{d}
		j := i + 1
		for ; j < len(batch); j++ {
			next := progress(j)
			if next.delivered == 0 {
				break
			}
			kept = append(kept, next)
		}
		l.putBack(s, batch[j:])
		l.keep(p, kept)
		return false
	}
	return true
}

// batchFits reports whether every target can take the whole batch now, so
// that a batch goes to all destinations at once or message by message,
// and one full destination never holds a whole batch back.
func (l *Link) batchFits(batch []Message, targets []*destination) bool {
	if hasSpilled(batch) {
		return false
	}
	for _, t := range targets {
		if isDone(t.removed) || t.q.room() < len(batch) {
			return false
		}
	}
	return true
}

// hasSpilled reports whether a batch holds a spilled message, which needs
// its own hard link per destination and so goes one by one.
func hasSpilled(batch []Message) bool {
	for i := range batch {
		if batch[i].Spilled() {
			return true
		}
	}
	return false
}

// putBack returns messages taken from s but not delivered to the front of
// s, keeping their order.
func (l *Link) putBack(s *source, msgs []Message) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if !s.q.requeue(msgs[i]) {
			log().Error("message dropped: it could not go back to its closed source", "link", l.name, "source", s.id)
			Discard(msgs[i])
			_ = s.q.TaskDone()
		}
	}
}

// keep settles deliveries that a stop interrupted, in order: they become
// the publisher's pending deliveries, or are abandoned when the source was
// unregistered.
func (l *Link) keep(p *publisher, ds []delivery) {
	if isDone(p.retire) {
		l.abandonAll(p.src, ds)
		return
	}
	p.pending = append([]delivery(nil), ds...)
}

// abandonAll abandons deliveries in reverse order, so that the messages
// that go back to the front of their source keep their order.
func (l *Link) abandonAll(s *source, ds []delivery) {
	for i := len(ds) - 1; i >= 0; i-- {
		l.abandon(s, &ds[i])
	}
}

// deliver puts d's message to each of its remaining targets. It reports
// false when the publisher was stopped first; d then holds the progress,
// for keep.
func (l *Link) deliver(p *publisher, d *delivery) bool {
	s := p.src
	s.holding.Store(true)

	for d.next < len(d.targets) {
		t := d.targets[d.next]
		if !t.enter() {
			d.removed = true
			d.next++
			continue
		}
		m, err := share(d.m)
		if err != nil {
			t.leave()
			log().Error("message not delivered to a destination", "link", l.name, "source", s.id, "destination", t.id, "error", err)
			d.next++
			continue
		}
		err = t.q.put(m, -1, p.stop, t.removed)
		t.leave()
		if err == nil {
			d.delivered++
		} else {
			Discard(m)
		}
		if err == ErrCanceled && !isDone(p.stop) {
			d.removed = true // unregistered while waiting for room
		}
		if err == ErrCanceled && isDone(p.stop) {
			return false
		}
		if err == ErrClosed {
			log().Warn("destination closed, message skipped", "link", l.name, "source", s.id, "destination", t.id)
		}
		d.next++
	}
	if d.delivered == 0 && d.removed && s.q.requeue(d.m) {
		// Every destination it was meant for went away: the message
		// stays in the source for the destinations registered now.
		return true
	}
	Discard(d.m) // every destination got its own copy of a spill file
	if err := s.q.TaskDone(); err != nil {
		log().Warn("task_done on source failed", "link", l.name, "source", s.id, "error", err)
	}
	return true
}

// abandon settles a delivery that no publisher will finish. A message that
// reached no destination yet returns to the front of its source; otherwise
// each remaining destination gets it if it has room now.
func (l *Link) abandon(s *source, d *delivery) {
	if d.delivered == 0 && s.q.requeue(d.m) {
		return
	}
	dropped := 0
	for _, t := range d.targets[d.next:] {
		if !t.enter() {
			continue
		}
		m, err := share(d.m)
		if err == nil {
			err = t.q.Put(m, 0)
			if err != nil {
				Discard(m)
			}
		}
		t.leave()
		if err != nil {
			dropped++
		}
	}
	Discard(d.m)
	_ = s.q.TaskDone()
	if dropped > 0 {
		log().Error("message not delivered: destinations full or closed when the link shut down",
			"link", l.name, "source", s.id, "destinations", dropped)
	}
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
