package core

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newLink returns a link named after the test and closes it when the
// test ends.
func newLink(t *testing.T) *Link {
	t.Helper()
	l := NewLink(t.Name())
	t.Cleanup(l.Close)
	return l
}

func register(t *testing.T, l *Link, q *Queue, dir Direction) int64 {
	t.Helper()
	id, err := l.Register(q, dir)
	require.NoError(t, err)
	return id
}

// numbered returns the payloads prefix+"<from>" up to prefix+"<to-1>".
func numbered(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

// putAll puts each payload as a text message, waiting for room.
func putAll(t *testing.T, q *Queue, payloads []string) {
	t.Helper()
	for _, p := range payloads {
		require.NoError(t, q.Put(textMessage(p), testTimeout))
	}
}

// publisherOf returns the running publisher of the source with the given
// id, or nil.
func publisherOf(l *Link, id int64) *publisher {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.sources {
		if s.id == id {
			return s.pub
		}
	}
	return nil
}

// retiredPublishersDone reports whether every publisher of an
// unregistered source has returned.
func retiredPublishersDone(l *Link) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.retiring {
		if !isDone(p.done) {
			return false
		}
	}
	return true
}

// captureLog sends the engine's log records, at every level, to a buffer
// as JSON lines until the test ends.
func captureLog(t *testing.T) *lockedBuffer {
	t.Helper()
	previous := logger.Load()
	buf := &lockedBuffer{}
	SetLogger(slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { SetLogger(previous) })
	return buf
}

// logRecords parses the captured JSON lines.
func logRecords(t *testing.T, buf *lockedBuffer) []map[string]any {
	t.Helper()
	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var record map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &record), "log line %q", line)
		records = append(records, record)
	}
	return records
}

// findRecord returns the first record with the given message, or nil.
func findRecord(records []map[string]any, msg string) map[string]any {
	for _, r := range records {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

func TestLinkIDsCountUpAndAreNeverReused(t *testing.T) {
	l := newLink(t)
	a, b, c, d := newQueue(t, FIFO, 0), newQueue(t, FIFO, 0), newQueue(t, FIFO, 0), newQueue(t, FIFO, 0)

	assert.Equal(t, int64(1), register(t, l, a, Source))
	assert.Equal(t, int64(2), register(t, l, b, Destination))
	assert.Equal(t, int64(3), register(t, l, c, Source))
	require.NoError(t, l.Unregister(2, Destination))
	assert.Equal(t, int64(4), register(t, l, b, Destination), "a queue registered again gets a new id")
	require.NoError(t, l.Unregister(1, Source))
	assert.Equal(t, int64(5), register(t, l, d, Destination))

	for _, id := range []int64{1, 2} {
		_, _, err := l.Queue(id)
		assert.ErrorIs(t, err, ErrNotFound, "id %d", id)
	}
	q, dir, err := l.Queue(3)
	require.NoError(t, err)
	assert.Same(t, c, q)
	assert.Equal(t, Source, dir)
	q, dir, err = l.Queue(4)
	require.NoError(t, err)
	assert.Same(t, b, q)
	assert.Equal(t, Destination, dir)
}

func TestLinkRegisterDuplicate(t *testing.T) {
	tests := []struct {
		name   string
		first  Direction
		second Direction
		want   string
	}{
		{"source twice", Source, Source, "already registered as source 1"},
		{"source then destination", Source, Destination, "already registered as source 1"},
		{"destination then source", Destination, Source, "already registered as destination 1"},
		{"destination twice", Destination, Destination, "already registered as destination 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(t)
			q := newQueue(t, FIFO, 0)
			register(t, l, q, tt.first)

			id, err := l.Register(q, tt.second)

			require.ErrorIs(t, err, ErrExists)
			assert.Equal(t, int64(0), id)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), l.Name())
			assert.Equal(t, int64(2), register(t, l, newQueue(t, FIFO, 0), tt.second), "a failed registration uses no id")
		})
	}
}

func TestLinkRegisterInvalid(t *testing.T) {
	tests := []struct {
		name string
		q    *Queue
		dir  Direction
		want string
	}{
		{"nil queue", nil, Source, "queue is nil"},
		{"direction zero", &Queue{}, 0, "direction 0"},
		{"direction three", &Queue{}, 3, "direction 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(t)

			_, err := l.Register(tt.q, tt.dir)

			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLinkUnregisterErrors(t *testing.T) {
	tests := []struct {
		name    string
		id      int64
		dir     Direction
		wantErr error
		want    string
	}{
		{"unknown id", 99, Source, ErrNotFound, "no source with id 99"},
		{"source id as destination", 1, Destination, ErrNotFound, "no destination with id 1"},
		{"destination id as source", 2, Source, ErrNotFound, "no source with id 2"},
		{"unregistered id", 3, Destination, ErrNotFound, "no destination with id 3"},
		{"invalid direction", 1, 0, ErrInvalid, "direction 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(t)
			register(t, l, newQueue(t, FIFO, 0), Source)
			register(t, l, newQueue(t, FIFO, 0), Destination)
			register(t, l, newQueue(t, FIFO, 0), Destination)
			require.NoError(t, l.Unregister(3, Destination))

			err := l.Unregister(tt.id, tt.dir)

			require.ErrorIs(t, err, tt.wantErr)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLinkAfterClose(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	dst := newQueue(t, FIFO, 0)
	register(t, l, src, Source)
	register(t, l, dst, Destination)

	within(t, testTimeout, "Close", l.Close)
	within(t, testTimeout, "a second Close", l.Close)
	within(t, testTimeout, "Stop after Close", l.Stop)

	_, err := l.Register(newQueue(t, FIFO, 0), Source)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, l.Unregister(1, Source), ErrClosed)
	alive, err := l.IsAlive()
	require.NoError(t, err)
	assert.False(t, alive)
	assert.False(t, src.Closed(), "closing a link leaves its queues open")
	assert.False(t, dst.Closed(), "closing a link leaves its queues open")
}

func TestLinkFanOut(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	register(t, l, src, Source)
	dests := make([]*Queue, 3)
	for i := range dests {
		dests[i] = newQueue(t, FIFO, 0)
		register(t, l, dests[i], Destination)
	}
	want := numbered("m", 0, 1000)

	putAll(t, src, want)

	for i, d := range dests {
		assert.Equal(t, want, getAll(t, d, len(want)), "destination %d", i)
		assert.Equal(t, 0, d.Len(), "destination %d", i)
	}
	require.NoError(t, src.Join(testTimeout), "the link finishes every task of its source")
	metrics := l.Metrics()
	require.Len(t, metrics, 1)
	assert.Equal(t, uint64(len(want)), metrics[0].Count)
}

func TestLinkFanOutSharesPayload(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	register(t, l, src, Source)
	a, b := newQueue(t, FIFO, 0), newQueue(t, FIFO, 0)
	register(t, l, a, Destination)
	register(t, l, b, Destination)
	payload := []byte("a\x00b")

	require.NoError(t, src.Put(Message{Kind: KindPickle, Priority: -4, Payload: payload}, 0))

	for _, d := range []*Queue{a, b} {
		m, err := d.Get(testTimeout)
		require.NoError(t, err)
		assert.Equal(t, KindPickle, m.Kind)
		assert.Equal(t, int64(-4), m.Priority)
		assert.Equal(t, payload, m.Payload)
		assert.Same(t, &payload[0], &m.Payload[0], "the link shares the payload instead of copying it")
	}
}

func TestLinkFanIn(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	dst := newQueue(t, FIFO, 0)
	register(t, l, dst, Destination)
	const perSource = 1000
	var want []string
	sources := make([]*Queue, 3)
	for i := range sources {
		sources[i] = newQueue(t, FIFO, 0)
		register(t, l, sources[i], Source)
	}

	for i, src := range sources {
		payloads := numbered(fmt.Sprintf("s%d-", i), 0, perSource)
		want = append(want, payloads...)
		putAll(t, src, payloads)
	}

	got := getAll(t, dst, len(want))
	next := make(map[string]int) // source prefix -> next expected number
	for _, p := range got {
		prefix, number, ok := strings.Cut(p, "-")
		require.True(t, ok, "payload %q", p)
		assert.Equal(t, strconv.Itoa(next[prefix]), number, "messages of %s out of order", prefix)
		next[prefix]++
	}
	sort.Strings(got)
	sort.Strings(want)
	assert.Equal(t, want, got)
	for i, src := range sources {
		require.NoError(t, src.Join(testTimeout), "source %d", i)
	}
	_, err := dst.Get(0)
	assert.ErrorIs(t, err, ErrEmpty)
}

// Producers feed bounded sources while consumers empty bounded
// destinations, so publishers and producers block often.
func TestLinkManyToMany(t *testing.T) {
	checkGoroutines(t)
	const (
		sourceCount = 8
		destCount   = 8
		perSource   = 1500
	)
	l := newLink(t)
	sources := make([]*Queue, sourceCount)
	for i := range sources {
		sources[i] = newQueue(t, FIFO, 16)
		register(t, l, sources[i], Source)
	}
	dests := make([]*Queue, destCount)
	for i := range dests {
		dests[i] = newQueue(t, FIFO, 16)
		register(t, l, dests[i], Destination)
	}

	var wg sync.WaitGroup
	errs := make(chan error, sourceCount+destCount)
	for s, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perSource; i++ {
				if err := src.Put(textMessage(fmt.Sprintf("%d-%d", s, i)), testTimeout); err != nil {
					errs <- fmt.Errorf("source %d, message %d: %w", s, i, err)
					return
				}
			}
		}()
	}
	received := make([][]string, destCount)
	for d, dst := range dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < sourceCount*perSource; i++ {
				m, err := dst.Get(testTimeout)
				if err != nil {
					errs <- fmt.Errorf("destination %d after %d messages: %w", d, i, err)
					return
				}
				received[d] = append(received[d], string(m.Payload))
			}
		}()
	}
	within(t, 4*testTimeout, "moving every message", wg.Wait)
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for d, payloads := range received {
		require.Len(t, payloads, sourceCount*perSource, "destination %d", d)
		next := make([]int, sourceCount)
		for _, p := range payloads {
			var s, i int
			_, err := fmt.Sscanf(p, "%d-%d", &s, &i)
			require.NoError(t, err)
			require.Equal(t, next[s], i, "destination %d: source %d's messages missing or out of order", d, s)
			next[s]++
		}
		_, err := dests[d].Get(0)
		assert.ErrorIs(t, err, ErrEmpty, "destination %d holds extra messages", d)
	}
	for s, src := range sources {
		require.NoError(t, src.Join(testTimeout), "source %d", s)
	}
	for _, m := range l.Metrics() {
		assert.Equal(t, uint64(perSource), m.Count, "source id %d", m.ID)
	}
}

// producer puts numbered messages "0", "1", … on q until stopped, and
// counts the puts that returned.
type producer struct {
	produced atomic.Int64
	stop     chan struct{}
	done     chan struct{}
	err      error // written before done closes
}

func startProducer(q *Queue) *producer {
	p := &producer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; !isDone(p.stop); i++ {
			if err := q.Put(textMessage(strconv.Itoa(i)), testTimeout); err != nil {
				p.err = fmt.Errorf("message %d: %w", i, err)
				return
			}
			p.produced.Store(int64(i + 1))
		}
	}()
	return p
}

// finish stops the producer and returns how many messages it put.
func (p *producer) finish(t *testing.T) int {
	t.Helper()
	close(p.stop)
	receive(t, p.done, "the producer's end")
	require.NoError(t, p.err)
	return int(p.produced.Load())
}

// requireRun checks that got is the payloads "from" up to "to-1".
func requireRun(t *testing.T, got []string, from, to int, what string) {
	t.Helper()
	require.Len(t, got, to-from, what)
	for i, p := range got {
		require.Equal(t, strconv.Itoa(from+i), p, "%s: message %d", what, i)
	}
}

func TestLinkRegisterDestinationWhilePublishing(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 64)
	first := newQueue(t, FIFO, 0)
	second := newQueue(t, FIFO, 0)
	srcID := register(t, l, src, Source)
	register(t, l, first, Destination)
	prod := startProducer(src)
	waitUntil(t, testTimeout, "500 messages are put", func() bool { return prod.produced.Load() >= 500 })
	pub := publisherOf(l, srcID)
	require.NotNil(t, pub)

	register(t, l, second, Destination)
	afterRegister := int(prod.produced.Load())

	assert.Same(t, pub, publisherOf(l, srcID), "registering a destination must not restart the publisher")
	waitUntil(t, testTimeout, "500 more messages are put", func() bool { return prod.produced.Load() >= int64(afterRegister+500) })
	total := prod.finish(t)
	require.NoError(t, src.Join(testTimeout))

	requireRun(t, drain(first), 0, total, "first destination")
	got := drain(second)
	require.NotEmpty(t, got)
	start, err := strconv.Atoi(got[0])
	require.NoError(t, err)
	requireRun(t, got, start, total, "second destination")
	// Message afterRegister+1 was put after Register returned, so the
	// publisher took it later and must have sent it to both queues.
	assert.LessOrEqual(t, start, afterRegister+1)
}

func TestLinkUnregisterDestination(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	kept, removed := newQueue(t, FIFO, 0), newQueue(t, FIFO, 0)
	register(t, l, src, Source)
	register(t, l, kept, Destination)
	removedID := register(t, l, removed, Destination)
	putAll(t, src, numbered("", 0, 10))
	require.NoError(t, src.Join(testTimeout))

	require.NoError(t, l.Unregister(removedID, Destination))
	putAll(t, src, numbered("", 10, 20))
	require.NoError(t, src.Join(testTimeout))

	requireRun(t, drain(kept), 0, 20, "kept destination")
	requireRun(t, drain(removed), 0, 10, "unregistered destination")
}

func TestLinkUnregisterDestinationWhilePublishing(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 64)
	kept, removed := newQueue(t, FIFO, 0), newQueue(t, FIFO, 0)
	srcID := register(t, l, src, Source)
	register(t, l, kept, Destination)
	removedID := register(t, l, removed, Destination)
	prod := startProducer(src)
	waitUntil(t, testTimeout, "500 messages are put", func() bool { return prod.produced.Load() >= 500 })
	pub := publisherOf(l, srcID)

	require.NoError(t, l.Unregister(removedID, Destination))
	afterUnregister := int(prod.produced.Load())

	assert.Same(t, pub, publisherOf(l, srcID), "unregistering a destination must not restart the publisher")
	waitUntil(t, testTimeout, "500 more messages are put", func() bool { return prod.produced.Load() >= int64(afterUnregister+500) })
	total := prod.finish(t)
	require.NoError(t, src.Join(testTimeout))

	requireRun(t, drain(kept), 0, total, "kept destination")
	got := drain(removed)
	requireRun(t, got, 0, len(got), "unregistered destination")
	// Messages from afterUnregister+1 on were put, and so taken, after
	// Unregister returned.
	assert.LessOrEqual(t, len(got), afterUnregister+1)
}

func TestLinkUnregisterFullDestination(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	open, full := newQueue(t, FIFO, 0), newQueue(t, FIFO, 1)
	register(t, l, src, Source)
	register(t, l, open, Destination)
	fullID := register(t, l, full, Destination)
	putAll(t, src, []string{"0", "1"})
	waitUntil(t, testTimeout, "the publisher waits for room with message 1",
		func() bool { return open.Len() == 2 && parkedPutters(full) == 1 })

	require.NoError(t, l.Unregister(fullID, Destination))
	putAll(t, src, []string{"2"})

	require.NoError(t, src.Join(testTimeout), "the abandoned put must not stop the publisher")
	requireRun(t, drain(open), 0, 3, "open destination")
	requireRun(t, drain(full), 0, 1, "unregistered destination")
}

func TestLinkUnregisterSourceFinishesHeldMessage(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	dst := newQueue(t, FIFO, 1)
	srcID := register(t, l, src, Source)
	register(t, l, dst, Destination)
	putAll(t, src, []string{"0", "1"})
	waitUntil(t, testTimeout, "the publisher waits for room with message 1",
		func() bool { return dst.Len() == 1 && parkedPutters(dst) == 1 })

	require.NoError(t, l.Unregister(srcID, Source))
	putAll(t, src, []string{"2"})
	empty, err := l.IsEmpty(0)
	require.NoError(t, err)
	assert.False(t, empty, "the retiring publisher still holds message 1")

	assert.Equal(t, []string{"0", "1"}, getAll(t, dst, 2))
	waitUntil(t, testTimeout, "the retiring publisher ends", func() bool { return retiredPublishersDone(l) })
	assert.Equal(t, 0, dst.Len())
	assert.Equal(t, []string{"2"}, drain(src), "the ended publisher must not take message 2")
	// Three puts, two finished by the link: one task is left for message 2.
	require.NoError(t, src.TaskDone())
	assert.ErrorIs(t, src.TaskDone(), ErrTaskDone)
}

func TestLinkStopAfterUnregisterSourceRequeuesHeldMessage(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	dst := newQueue(t, FIFO, 1)
	srcID := register(t, l, src, Source)
	register(t, l, dst, Destination)
	putAll(t, src, []string{"0", "1", "2"})
	waitUntil(t, testTimeout, "the publisher waits for room with message 1",
		func() bool { return parkedPutters(dst) == 1 })
	require.NoError(t, l.Unregister(srcID, Source))

	within(t, testTimeout, "Stop", l.Stop)

	assert.Equal(t, []string{"1", "2"}, drain(src), "the held message goes back to the front of its source")
	assert.Equal(t, []string{"0"}, drain(dst))
	empty, err := l.IsEmpty(0)
	require.NoError(t, err)
	assert.True(t, empty)
}

func TestLinkNoPublisherWithoutDestination(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	srcID := register(t, l, src, Source)
	putAll(t, src, numbered("", 0, 5))

	_, err := l.IsAlive()
	assert.ErrorIs(t, err, ErrNotStarted)
	assert.Nil(t, publisherOf(l, srcID))
	assert.False(t, l.IsDrained())
	assert.Equal(t, 5, src.Len())

	first := newQueue(t, FIFO, 0)
	firstID := register(t, l, first, Destination)
	require.NoError(t, src.Join(testTimeout))
	requireRun(t, drain(first), 0, 5, "first destination")

	require.NoError(t, l.Unregister(firstID, Destination))
	assert.Nil(t, publisherOf(l, srcID), "the last destination's removal stops the publisher")
	alive, err := l.IsAlive()
	require.NoError(t, err)
	assert.True(t, alive, "a link waiting for a destination is alive")
	putAll(t, src, numbered("", 5, 10))
	assert.Equal(t, 5, src.Len())

	second := newQueue(t, FIFO, 0)
	register(t, l, second, Destination)
	require.NoError(t, src.Join(testTimeout))
	requireRun(t, drain(second), 5, 10, "second destination")
	assert.Equal(t, 0, first.Len())
}

// Unregistering the only destination while the publisher moves a full
// source must leave every message not yet delivered in the source.
func TestLinkUnregisterLastDestinationLosesNothing(t *testing.T) {
	checkGoroutines(t)
	const (
		rounds   = 200
		messages = 500
	)
	rng := rand.New(rand.NewSource(3))
	for round := 0; round < rounds; round++ {
		l := NewLink("round " + strconv.Itoa(round))
		src, err := NewQueue(FIFO, 0)
		require.NoError(t, err)
		dst, err := NewQueue(FIFO, 0)
		require.NoError(t, err)
		putAll(t, src, numbered("", 0, messages))
		register(t, l, src, Source)
		dstID := register(t, l, dst, Destination)
		time.Sleep(time.Duration(rng.Intn(100)) * time.Microsecond)

		require.NoError(t, l.Unregister(dstID, Destination))

		delivered := drain(dst)
		requireRun(t, delivered, 0, len(delivered), fmt.Sprintf("round %d: destination", round))
		requireRun(t, drain(src), len(delivered), messages, fmt.Sprintf("round %d: source", round))
		l.Close()
	}
}

// A message held for a full destination that is then unregistered was
// taken before Unregister, so it may still go to that queue. If no queue
// receives it, the link must return it to the source.
func TestLinkHeldMessageOfUnregisteredDestination(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	full := newQueue(t, FIFO, 1)
	register(t, l, src, Source)
	fullID := register(t, l, full, Destination)
	putAll(t, src, []string{"0", "1", "2"})
	waitUntil(t, testTimeout, "the publisher waits for room with message 1",
		func() bool { return parkedPutters(full) == 1 })

	require.NoError(t, l.Unregister(fullID, Destination))
	next := newQueue(t, FIFO, 0)
	register(t, l, next, Destination)
	waitUntil(t, testTimeout, "the source is empty", func() bool { return src.Len() == 0 })
	within(t, testTimeout, "Stop", l.Stop)

	all := append(drain(full), drain(next)...)
	all = append(all, drain(src)...)
	sort.Strings(all)
	assert.Equal(t, []string{"0", "1", "2"}, all)
}

func TestLinkStopKeepsHeldMessage(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	full := newQueue(t, FIFO, 1)
	register(t, l, src, Source)
	register(t, l, full, Destination)
	putAll(t, src, numbered("", 0, 5))
	waitUntil(t, testTimeout, "the publisher waits for room with message 1",
		func() bool { return parkedPutters(full) == 1 })

	within(t, testTimeout, "Stop", l.Stop)
	within(t, testTimeout, "a second Stop", l.Stop)

	alive, err := l.IsAlive()
	require.NoError(t, err)
	assert.False(t, alive)
	empty, err := l.IsEmpty(0)
	require.NoError(t, err)
	assert.False(t, empty, "the stopped publisher's held message counts")
	assert.Equal(t, 3, src.Len())
	assert.Equal(t, 0, parkedPutters(full))

	later := newQueue(t, FIFO, 0)
	register(t, l, later, Destination)

	requireRun(t, getAll(t, full, 5), 0, 5, "full destination")
	require.NoError(t, src.Join(testTimeout))
	requireRun(t, drain(later), 2, 5, "destination registered after the stop")
}

// Stop ends publishers after the message they hold; it does not first
// move everything the sources contain.
func TestLinkStopLeavesSourceMessages(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	dst := newQueue(t, FIFO, 0)
	const messages = 100_000
	for i := 0; i < messages; i++ {
		require.NoError(t, src.Put(Message{Kind: KindBytes}, 0))
	}
	register(t, l, src, Source)
	register(t, l, dst, Destination)

	within(t, testTimeout, "Stop", l.Stop)

	// Moving 100,000 messages takes far longer than the Stop call that
	// follows the publisher's start.
	assert.Greater(t, src.Len(), 0)
	assert.Equal(t, messages, src.Len()+dst.Len())
}

func TestLinkCloseRequeuesHeldMessage(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	dst := newQueue(t, FIFO, 1)
	register(t, l, src, Source)
	register(t, l, dst, Destination)
	putAll(t, src, []string{"0", "1", "2"})
	waitUntil(t, testTimeout, "the publisher waits for room with message 1",
		func() bool { return parkedPutters(dst) == 1 })

	within(t, testTimeout, "Close", l.Close)

	assert.Equal(t, []string{"1", "2"}, drain(src))
	assert.Equal(t, []string{"0"}, drain(dst))
	// Three puts, one finished by the link for message 0.
	require.NoError(t, src.TaskDone())
	require.NoError(t, src.TaskDone())
	assert.ErrorIs(t, src.TaskDone(), ErrTaskDone)
}

func TestLinkCloseLogsPartlyDeliveredMessage(t *testing.T) {
	checkGoroutines(t)
	records := captureLog(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	open, full := newQueue(t, FIFO, 0), newQueue(t, FIFO, 1)
	srcID := register(t, l, src, Source)
	register(t, l, open, Destination)
	register(t, l, full, Destination)
	putAll(t, src, []string{"0", "1", "2"})
	waitUntil(t, testTimeout, "the publisher waits for room with message 1",
		func() bool { return parkedPutters(full) == 1 && open.Len() == 2 })

	within(t, testTimeout, "Close", l.Close)

	assert.Equal(t, []string{"2"}, drain(src), "message 1 reached a destination, so it is not requeued")
	assert.Equal(t, []string{"0", "1"}, drain(open))
	assert.Equal(t, []string{"0"}, drain(full))
	record := findRecord(logRecords(t, records), "message not delivered: destinations full or closed when the link shut down")
	require.NotNil(t, record, "log:\n%s", records.String())
	assert.Equal(t, "ERROR", record["level"])
	assert.Equal(t, l.Name(), record["link"])
	assert.Equal(t, float64(srcID), record["source"])
	assert.Equal(t, float64(1), record["destinations"])
}

func TestLinkSkipsClosedDestination(t *testing.T) {
	checkGoroutines(t)
	records := captureLog(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	open, closed := newQueue(t, FIFO, 0), newQueue(t, FIFO, 0)
	register(t, l, src, Source)
	register(t, l, open, Destination)
	closedID := register(t, l, closed, Destination)
	closed.Close()

	putAll(t, src, []string{"0", "1"})

	require.NoError(t, src.Join(testTimeout))
	assert.Equal(t, []string{"0", "1"}, drain(open))
	record := findRecord(logRecords(t, records), "destination closed, message skipped")
	require.NotNil(t, record, "log:\n%s", records.String())
	assert.Equal(t, "WARN", record["level"])
	assert.Equal(t, float64(closedID), record["destination"])
}

func TestLinkIsAlive(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	alive := func() bool {
		t.Helper()
		ok, err := l.IsAlive()
		require.NoError(t, err)
		return ok
	}

	_, err := l.IsAlive()
	assert.ErrorIs(t, err, ErrNotStarted, "no queue")
	register(t, l, newQueue(t, FIFO, 0), Destination)
	_, err = l.IsAlive()
	assert.ErrorIs(t, err, ErrNotStarted, "a destination only")
	register(t, l, src, Source)
	assert.True(t, alive(), "running")

	within(t, testTimeout, "Stop", l.Stop)
	assert.False(t, alive(), "stopped")

	register(t, l, newQueue(t, FIFO, 0), Source)
	assert.True(t, alive(), "restarted by a registration")

	src.Close()
	waitUntil(t, testTimeout, "the closed source's publisher ends", func() bool { return !alive() })
}

func TestLinkLogsClosedSource(t *testing.T) {
	checkGoroutines(t)
	records := captureLog(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	srcID := register(t, l, src, Source)
	register(t, l, newQueue(t, FIFO, 0), Destination)

	src.Close()

	waitUntil(t, testTimeout, "the publisher logs its end", func() bool {
		return strings.Contains(records.String(), "source closed, publisher ended")
	})
	all := logRecords(t, records)
	started := findRecord(all, "publisher started")
	require.NotNil(t, started, "log:\n%s", records.String())
	assert.Equal(t, "DEBUG", started["level"])
	ended := findRecord(all, "source closed, publisher ended")
	assert.Equal(t, "INFO", ended["level"])
	assert.Equal(t, l.Name(), ended["link"])
	assert.Equal(t, float64(srcID), ended["source"])
}

func TestLinkIsEmpty(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)

	empty, err := l.IsEmpty(0)
	require.NoError(t, err)
	assert.True(t, empty, "a link without queues")
	_, err = l.IsEmpty(7)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "id 7")

	src := newQueue(t, FIFO, 0)
	a, b := newQueue(t, FIFO, 0), newQueue(t, FIFO, 0)
	srcID := register(t, l, src, Source)
	aID := register(t, l, a, Destination)
	bID := register(t, l, b, Destination)
	within(t, testTimeout, "Stop", l.Stop) // keep messages where the test puts them

	isEmpty := func(id int64) bool {
		t.Helper()
		ok, err := l.IsEmpty(id)
		require.NoError(t, err)
		return ok
	}
	assert.True(t, isEmpty(0), "all empty")
	assert.True(t, isEmpty(aID), "all empty, by destination")
	assert.True(t, isEmpty(srcID), "all empty, by source")

	mustPut(t, a, "x")
	assert.False(t, isEmpty(0), "a destination holds a message")
	assert.False(t, isEmpty(aID), "that destination")
	assert.True(t, isEmpty(bID), "another destination")
	assert.True(t, isEmpty(srcID), "by source, destinations are not checked")
	drain(a)

	mustPut(t, src, "y")
	assert.False(t, isEmpty(0), "the source holds a message")
	assert.False(t, isEmpty(bID), "every source is checked")
	assert.False(t, isEmpty(srcID), "that source")
}

func TestLinkIsEmptyWhilePublisherHoldsMessage(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	open, full := newQueue(t, FIFO, 0), newQueue(t, FIFO, 1)
	register(t, l, src, Source)
	openID := register(t, l, open, Destination)
	register(t, l, full, Destination)
	putAll(t, src, []string{"0", "1"})
	waitUntil(t, testTimeout, "the publisher waits for room with message 1",
		func() bool { return parkedPutters(full) == 1 && open.Len() == 2 })
	drain(open)

	empty, err := l.IsEmpty(openID)
	require.NoError(t, err)
	assert.False(t, empty, "running publisher holds a message")

	within(t, testTimeout, "Stop", l.Stop)
	empty, err = l.IsEmpty(openID)
	require.NoError(t, err)
	assert.False(t, empty, "stopped publisher keeps the message")
}

func TestLinkIsDrained(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	dst := newQueue(t, FIFO, 0)

	assert.False(t, l.IsDrained(), "no publisher started")
	register(t, l, src, Source)
	assert.False(t, l.IsDrained(), "no publisher started, source registered")

	register(t, l, dst, Destination)
	assert.True(t, l.IsDrained(), "started, all empty")

	putAll(t, src, []string{"a"})
	require.NoError(t, src.Join(testTimeout))
	assert.False(t, l.IsDrained(), "the destination holds the message")
	drain(dst)
	// The publisher finishes the source's task just before it lets go of
	// the message.
	waitUntil(t, testTimeout, "the link is drained", l.IsDrained)
}

func TestLinkMetricsPerSource(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	busy, quiet, idle := newQueue(t, FIFO, 0), newQueue(t, FIFO, 0), newQueue(t, FIFO, 0)
	busyID := register(t, l, busy, Source)
	quietID := register(t, l, quiet, Source)
	idleID := register(t, l, idle, Source)
	register(t, l, newQueue(t, FIFO, 0), Destination)

	putAll(t, busy, numbered("", 0, 150))
	putAll(t, quiet, numbered("", 0, 3))
	require.NoError(t, busy.Join(testTimeout))
	require.NoError(t, quiet.Join(testTimeout))

	metrics := l.Metrics()
	require.Len(t, metrics, 3)
	assert.Equal(t, busyID, metrics[0].ID)
	assert.Equal(t, uint64(150), metrics[0].Count)
	assert.Equal(t, MetricsWindow, metrics[0].DataPoints)
	assert.Equal(t, quietID, metrics[1].ID)
	assert.Equal(t, uint64(3), metrics[1].Count)
	assert.Equal(t, 3, metrics[1].DataPoints)
	assert.Equal(t, SourceMetrics{ID: idleID}, metrics[2], "a source that moved nothing has zeros")
	for _, m := range metrics[:2] {
		assert.GreaterOrEqual(t, m.Mean, time.Duration(0), "source %d", m.ID)
		assert.GreaterOrEqual(t, m.Median, time.Duration(0), "source %d", m.ID)
		assert.GreaterOrEqual(t, m.StdDev, time.Duration(0), "source %d", m.ID)
	}
}

func TestLinkMetricsMeasureWaitInSource(t *testing.T) {
	checkGoroutines(t)
	l := newLink(t)
	src := newQueue(t, FIFO, 0)
	register(t, l, src, Source)
	const wait = 30 * time.Millisecond
	putAll(t, src, []string{"a"})
	time.Sleep(wait)

	register(t, l, newQueue(t, FIFO, 0), Destination)

	require.NoError(t, src.Join(testTimeout))
	metrics := l.Metrics()
	require.Len(t, metrics, 1)
	assert.Equal(t, 1, metrics[0].DataPoints)
	assert.GreaterOrEqual(t, metrics[0].Mean, wait, "the message waited at least this long before the publisher started")
	assert.Equal(t, metrics[0].Mean, metrics[0].Median)
	assert.Equal(t, time.Duration(0), metrics[0].StdDev)
}

func TestMetricsStatistics(t *testing.T) {
	ms := func(values ...float64) []int64 {
		out := make([]int64, len(values))
		for i, v := range values {
			out[i] = int64(v * float64(time.Millisecond))
		}
		return out
	}
	oneTo150 := make([]float64, 150)
	for i := range oneTo150 {
		oneTo150[i] = float64(i + 1)
	}
	tests := []struct {
		name                 string
		waits                []int64
		wantPoints           int
		mean, median, stddev float64 // milliseconds
	}{
		{"no data", nil, 0, 0, 0, 0},
		{"one wait", ms(7), 1, 7, 7, 0},
		{"odd count", ms(1, 3, 2), 3, 2, 2, math.Sqrt(2.0 / 3)},
		{"even count", ms(9, 2, 4, 7, 4, 5, 4, 5), 8, 5, 4.5, 2},
		// The window keeps waits 51 to 150, whose population variance
		// is (100² - 1) / 12.
		{"window keeps the last 100", ms(oneTo150...), MetricsWindow, 100.5, 100.5, math.Sqrt((100*100 - 1) / 12.0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m metrics
			for _, w := range tt.waits {
				m.record(w)
			}

			s := m.snapshot(42)

			assert.Equal(t, int64(42), s.ID)
			assert.Equal(t, uint64(len(tt.waits)), s.Count)
			assert.Equal(t, tt.wantPoints, s.DataPoints)
			const tolerance = float64(time.Microsecond)
			assert.InDelta(t, tt.mean*float64(time.Millisecond), float64(s.Mean), tolerance, "mean")
			assert.InDelta(t, tt.median*float64(time.Millisecond), float64(s.Median), tolerance, "median")
			assert.InDelta(t, tt.stddev*float64(time.Millisecond), float64(s.StdDev), tolerance, "standard deviation")
		})
	}
}

// TestUnregisterEndsDeliveries checks that once Unregister of a destination
// returns, no message reaches it any more, even while a publisher is in
// the middle of a batch. A consumer that drains the queue after the call
// thus receives every message it will ever get.
func TestUnregisterEndsDeliveries(t *testing.T) {
	for round := range 100 {
		source := newQueue(t, FIFO, 0)
		remaining := newQueue(t, FIFO, 0)
		removed := newQueue(t, FIFO, 0)
		link := NewLink("unregister-race")
		_, err := link.Register(source, Source)
		require.NoError(t, err)
		_, err = link.Register(remaining, Destination)
		require.NoError(t, err)
		removedID, err := link.Register(removed, Destination)
		require.NoError(t, err)

		stop := make(chan struct{})
		produced := make(chan struct{})
		go func() {
			defer close(produced)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = source.Put(textMessage(strconv.Itoa(i)), 0)
			}
		}()
		waitUntil(t, 5*time.Second, "messages reach the destination", func() bool { return removed.Len() > 100 })

		require.NoError(t, link.Unregister(removedID, Destination))
		after := removed.Len()
		time.Sleep(2 * time.Millisecond)
		assert.Equal(t, after, removed.Len(), "round %d: a message arrived after Unregister returned", round)

		close(stop)
		<-produced
		link.Close()
		if t.Failed() {
			return
		}
	}
}
