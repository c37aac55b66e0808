package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewQueueRejectsInvalidOrder(t *testing.T) {
	for _, order := range []Order{-1, 3, 100} {
		t.Run(order.String(), func(t *testing.T) {
			q, err := NewQueue(order, 0)

			require.ErrorIs(t, err, ErrInvalid)
			assert.Nil(t, q)
			assert.Contains(t, err.Error(), strconv.Itoa(int(order)))
		})
	}
}

func TestQueueOrder(t *testing.T) {
	type put struct {
		payload  string
		priority int64
	}
	tests := []struct {
		name  string
		order Order
		puts  []put
		want  []string
	}{
		{
			name:  "FIFO",
			order: FIFO,
			puts:  []put{{"a", 5}, {"b", -1}, {"c", 0}, {"d", 5}},
			want:  []string{"a", "b", "c", "d"},
		},
		{
			name:  "LIFO",
			order: LIFO,
			puts:  []put{{"a", 5}, {"b", -1}, {"c", 0}, {"d", 5}},
			want:  []string{"d", "c", "b", "a"},
		},
		{
			name:  "priority lowest first",
			order: Priority,
			puts:  []put{{"p3", 3}, {"p1", 1}, {"p2", 2}, {"p0", 0}},
			want:  []string{"p0", "p1", "p2", "p3"},
		},
		{
			name:  "priority ties keep FIFO order",
			order: Priority,
			puts:  []put{{"a", 1}, {"b", 1}, {"c", 0}, {"d", 1}, {"e", 0}},
			want:  []string{"c", "e", "a", "b", "d"},
		},
		{
			name:  "priority negative before zero",
			order: Priority,
			puts:  []put{{"zero", 0}, {"minus1", -1}, {"minus5a", -5}, {"big", 1 << 40}, {"minus5b", -5}, {"min", -1 << 62}},
			want:  []string{"min", "minus5a", "minus5b", "minus1", "zero", "big"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, tt.order, 0)
			for _, p := range tt.puts {
				require.NoError(t, q.Put(Message{Kind: KindText, Priority: p.priority, Payload: []byte(p.payload)}, 0))
			}

			assert.Equal(t, tt.want, getAll(t, q, len(tt.want)))
			assert.Equal(t, 0, q.Len())
		})
	}
}

func TestQueuePriorityOrderManyMessages(t *testing.T) {
	q := newQueue(t, Priority, 0)
	rng := rand.New(rand.NewSource(1))
	type key struct {
		priority int64
		seq      int
	}
	var keys []key
	for seq := 0; seq < 2000; seq++ {
		priority := int64(rng.Intn(21) - 10)
		keys = append(keys, key{priority, seq})
		require.NoError(t, q.Put(Message{Kind: KindBytes, Priority: priority, Payload: []byte(strconv.Itoa(seq))}, 0))
	}

	prev := key{priority: -1 << 63, seq: -1}
	for range keys {
		m, err := q.Get(0)
		require.NoError(t, err)
		seq, err := strconv.Atoi(string(m.Payload))
		require.NoError(t, err)
		got := key{m.Priority, seq}
		if got.priority == prev.priority {
			require.Greater(t, got.seq, prev.seq, "equal priorities must come out in put order")
		} else {
			require.Greater(t, got.priority, prev.priority, "priorities must not decrease")
		}
		prev = got
	}
	assert.Equal(t, 0, q.Len())
}

// The FIFO store is a ring buffer that grows while its contents wrap
// around the end of the slice.
func TestQueueFIFOAcrossRingGrowth(t *testing.T) {
	q := newQueue(t, FIFO, 0)
	next, want := 0, 0
	for round := 0; round < 6; round++ {
		for i := 0; i < 10+round*7; i++ {
			mustPut(t, q, strconv.Itoa(next))
			next++
		}
		for i := 0; i < 5+round*3; i++ {
			m, err := q.Get(0)
			require.NoError(t, err)
			require.Equal(t, strconv.Itoa(want), string(m.Payload))
			want++
		}
	}

	for _, got := range drain(q) {
		require.Equal(t, strconv.Itoa(want), got)
		want++
	}
	assert.Equal(t, next, want)
}

func TestQueueRequeueReturnsMessageToFront(t *testing.T) {
	tests := []struct {
		name  string
		order Order
		want  []string
	}{
		{"FIFO", FIFO, []string{"a", "b", "c"}},
		{"LIFO", LIFO, []string{"b", "c", "a"}},
		{"priority", Priority, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, tt.order, 2)
			for _, s := range []string{"a", "b"} {
				mustPut(t, q, s)
			}
			first, err := q.Get(0)
			require.NoError(t, err)
			mustPut(t, q, "c")

			require.True(t, q.requeue(first))

			assert.Equal(t, 3, q.Len(), "requeue ignores the bound")
			assert.Equal(t, tt.want, drain(q))
		})
	}
}

func TestQueueRequeueAfterCloseFails(t *testing.T) {
	q := newQueue(t, FIFO, 0)
	q.Close()

	assert.False(t, q.requeue(textMessage("x")))
	assert.Equal(t, 0, q.Len())
}

func TestQueueAccessors(t *testing.T) {
	tests := []struct {
		name        string
		order       Order
		maxsize     int
		wantMaxsize int
	}{
		{"unbounded zero", FIFO, 0, 0},
		{"unbounded negative", LIFO, -5, 0},
		{"bounded", Priority, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, tt.order, tt.maxsize)

			assert.Equal(t, tt.order, q.Order())
			assert.Equal(t, tt.wantMaxsize, q.Maxsize())
			assert.Equal(t, 0, q.Len())
			assert.False(t, q.Full())
			assert.False(t, q.Closed())

			q.Close()
			assert.True(t, q.Closed())
			q.Close() // closing twice is allowed
			assert.True(t, q.Closed())
		})
	}
}

func TestQueueUnboundedNeverFull(t *testing.T) {
	q := newQueue(t, FIFO, 0)
	for i := 0; i < 10000; i++ {
		require.NoError(t, q.Put(textMessage("m"), 0))
	}

	assert.Equal(t, 10000, q.Len())
	assert.False(t, q.Full())
}

func TestQueueBoundedFull(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"timeout zero", 0},
		{"short timeout", shortTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, FIFO, 2)
			mustPut(t, q, "a")
			assert.False(t, q.Full())
			mustPut(t, q, "b")
			require.True(t, q.Full())

			start := time.Now()
			err := q.Put(textMessage("c"), tt.timeout)

			require.ErrorIs(t, err, ErrFull)
			assert.GreaterOrEqual(t, time.Since(start), tt.timeout)
			assert.Equal(t, 2, q.Len())
			assert.Equal(t, []string{"a", "b"}, drain(q))
			assert.False(t, q.Full())
		})
	}
}

func TestQueueGetEmpty(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"timeout zero", 0},
		{"short timeout", shortTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, FIFO, 0)

			start := time.Now()
			m, err := q.Get(tt.timeout)

			require.ErrorIs(t, err, ErrEmpty)
			assert.Equal(t, Message{}, m)
			assert.GreaterOrEqual(t, time.Since(start), tt.timeout)
		})
	}
}

func TestQueueNegativeTimeoutGetWaitsForPut(t *testing.T) {
	checkGoroutines(t)
	q := newQueue(t, FIFO, 0)
	type result struct {
		m   Message
		err error
	}
	results := make(chan result, 1)
	go func() {
		m, err := q.Get(-1)
		results <- result{m, err}
	}()
	waitUntil(t, testTimeout, "the getter waits", func() bool { return parkedGetters(q) == 1 })

	mustPut(t, q, "hello")

	r := receive(t, results, "the message")
	require.NoError(t, r.err)
	assert.Equal(t, "hello", string(r.m.Payload))
}

func TestQueueNegativeTimeoutPutWaitsForRoom(t *testing.T) {
	checkGoroutines(t)
	q := newQueue(t, FIFO, 1)
	mustPut(t, q, "first")
	errs := make(chan error, 1)
	go func() { errs <- q.Put(textMessage("second"), -1) }()
	waitUntil(t, testTimeout, "the putter waits", func() bool { return parkedPutters(q) == 1 })
	assert.Equal(t, 1, q.Len())

	m, err := q.Get(0)
	require.NoError(t, err)
	assert.Equal(t, "first", string(m.Payload))

	require.NoError(t, receive(t, errs, "the put's result"))
	assert.Equal(t, []string{"second"}, drain(q))
}

func TestQueueCloseWakesWaiters(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, q *Queue)
		wait   func(q *Queue) error
		parked func(q *Queue) int
	}{
		{
			name:   "get",
			setup:  func(t *testing.T, q *Queue) {},
			wait:   func(q *Queue) error { _, err := q.Get(-1); return err },
			parked: parkedGetters,
		},
		{
			name:   "get with timeout",
			setup:  func(t *testing.T, q *Queue) {},
			wait:   func(q *Queue) error { _, err := q.Get(testTimeout); return err },
			parked: parkedGetters,
		},
		{
			name:   "put",
			setup:  func(t *testing.T, q *Queue) { mustPut(t, q, "fill") },
			wait:   func(q *Queue) error { return q.Put(textMessage("more"), -1) },
			parked: parkedPutters,
		},
		{
			name:   "put with timeout",
			setup:  func(t *testing.T, q *Queue) { mustPut(t, q, "fill") },
			wait:   func(q *Queue) error { return q.Put(textMessage("more"), testTimeout) },
			parked: parkedPutters,
		},
		{
			name:   "join",
			setup:  func(t *testing.T, q *Queue) { mustPut(t, q, "unfinished") },
			wait:   func(q *Queue) error { return q.Join(-1) },
			parked: parkedJoiners,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			q := newQueue(t, FIFO, 1)
			tt.setup(t, q)
			const waiters = 3
			errs := make(chan error, waiters)
			for i := 0; i < waiters; i++ {
				go func() { errs <- tt.wait(q) }()
			}
			waitUntil(t, testTimeout, "every waiter is parked", func() bool { return tt.parked(q) == waiters })

			q.Close()

			for i := 0; i < waiters; i++ {
				assert.ErrorIs(t, receive(t, errs, "a waiter's result"), ErrClosed)
			}
			assert.Equal(t, 0, tt.parked(q))
		})
	}
}

func TestQueueGetAfterCloseReturnsRemaining(t *testing.T) {
	q := newQueue(t, FIFO, 0)
	mustPut(t, q, "a")
	mustPut(t, q, "b")

	q.Close()

	assert.ErrorIs(t, q.Put(textMessage("c"), 0), ErrClosed)
	assert.ErrorIs(t, q.Put(textMessage("c"), -1), ErrClosed)
	assert.Equal(t, []string{"a", "b"}, getAll(t, q, 2))
	for _, timeout := range []time.Duration{0, shortTimeout, -1} {
		_, err := q.Get(timeout)
		assert.ErrorIs(t, err, ErrClosed, "timeout %v", timeout)
	}
}

func TestQueuePutToFullClosedQueue(t *testing.T) {
	q := newQueue(t, FIFO, 1)
	mustPut(t, q, "a")
	q.Close()

	assert.ErrorIs(t, q.Put(textMessage("b"), 0), ErrClosed)
	assert.Equal(t, 1, q.Len())
}

func TestQueueTaskDoneAndJoin(t *testing.T) {
	checkGoroutines(t)
	q := newQueue(t, FIFO, 0)
	require.NoError(t, q.Join(0), "a new queue has no unfinished task")
	for i := 0; i < 3; i++ {
		mustPut(t, q, strconv.Itoa(i))
	}

	assert.ErrorIs(t, q.Join(0), ErrTimeout)
	start := time.Now()
	assert.ErrorIs(t, q.Join(shortTimeout), ErrTimeout)
	assert.GreaterOrEqual(t, time.Since(start), shortTimeout)

	const joiners = 3
	errs := make(chan error, joiners)
	for i := 0; i < joiners; i++ {
		go func() { errs <- q.Join(-1) }()
	}
	waitUntil(t, testTimeout, "every joiner is parked", func() bool { return parkedJoiners(q) == joiners })

	getAll(t, q, 3)
	require.NoError(t, q.TaskDone())
	require.NoError(t, q.TaskDone())
	assert.Equal(t, joiners, parkedJoiners(q), "joiners wait for the last task")
	require.NoError(t, q.TaskDone())

	for i := 0; i < joiners; i++ {
		assert.NoError(t, receive(t, errs, "a joiner's result"))
	}
	assert.NoError(t, q.Join(0))
	assert.ErrorIs(t, q.TaskDone(), ErrTaskDone)
}

func TestQueueTaskDoneCountsPutsNotGets(t *testing.T) {
	q := newQueue(t, FIFO, 0)
	assert.ErrorIs(t, q.TaskDone(), ErrTaskDone)
	mustPut(t, q, "a")

	// Python's queue.Queue counts unfinished tasks per put, so a task can
	// be finished before its message is taken.
	require.NoError(t, q.TaskDone())
	assert.ErrorIs(t, q.TaskDone(), ErrTaskDone)
	assert.NoError(t, q.Join(0))
	assert.Equal(t, 1, q.Len())
}

func TestQueueJoinAfterClose(t *testing.T) {
	tests := []struct {
		name       string
		unfinished int
		want       error
	}{
		{"no unfinished task", 0, nil},
		{"unfinished tasks", 2, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, FIFO, 0)
			for i := 0; i < tt.unfinished; i++ {
				mustPut(t, q, "m")
			}
			q.Close()

			var err error
			within(t, testTimeout, "Join", func() { err = q.Join(-1) })

			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestQueueCancel(t *testing.T) {
	tests := []struct {
		name          string
		maxsize       int
		prefill       int
		closeEarly    bool // close the cancel channel before the call
		call          func(q *Queue, cancel <-chan struct{}) error
		parked        func(q *Queue) int
		wantErr       error
		wantRemaining int
	}{
		{
			name:    "get canceled while waiting",
			call:    func(q *Queue, c <-chan struct{}) error { _, err := q.GetCancel(-1, c); return err },
			parked:  parkedGetters,
			wantErr: ErrCanceled,
		},
		{
			name:       "get canceled before the call",
			closeEarly: true,
			call:       func(q *Queue, c <-chan struct{}) error { _, err := q.GetCancel(testTimeout, c); return err },
			wantErr:    ErrCanceled,
		},
		{
			name:          "get with a message ignores the cancel",
			prefill:       1,
			closeEarly:    true,
			call:          func(q *Queue, c <-chan struct{}) error { _, err := q.GetCancel(-1, c); return err },
			wantRemaining: 0,
		},
		{
			name:          "put canceled while waiting",
			maxsize:       1,
			prefill:       1,
			call:          func(q *Queue, c <-chan struct{}) error { return q.PutCancel(textMessage("x"), -1, c) },
			parked:        parkedPutters,
			wantErr:       ErrCanceled,
			wantRemaining: 1,
		},
		{
			name:          "put canceled before the call",
			maxsize:       1,
			prefill:       1,
			closeEarly:    true,
			call:          func(q *Queue, c <-chan struct{}) error { return q.PutCancel(textMessage("x"), testTimeout, c) },
			wantErr:       ErrCanceled,
			wantRemaining: 1,
		},
		{
			name:          "put with room ignores the cancel",
			maxsize:       1,
			closeEarly:    true,
			call:          func(q *Queue, c <-chan struct{}) error { return q.PutCancel(textMessage("x"), -1, c) },
			wantRemaining: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			q := newQueue(t, FIFO, tt.maxsize)
			for i := 0; i < tt.prefill; i++ {
				mustPut(t, q, "prefill")
			}
			cancel := make(chan struct{})
			if tt.closeEarly {
				close(cancel)
			}

			errs := make(chan error, 1)
			go func() { errs <- tt.call(q, cancel) }()
			if !tt.closeEarly {
				waitUntil(t, testTimeout, "the call waits", func() bool { return tt.parked(q) == 1 })
				close(cancel)
			}

			err := receive(t, errs, "the call's result")
			if tt.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.Equal(t, tt.wantRemaining, q.Len())
			assert.False(t, q.Closed())
		})
	}
}

func TestQueuePayloadsAndKindsUnchanged(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name     string
		kind     Kind
		priority int64
		payload  []byte
	}{
		{"empty text", KindText, 0, []byte{}},
		{"nil bytes", KindBytes, 0, nil},
		{"single NUL", KindBytes, 0, []byte{0}},
		{"NUL inside text", KindText, 7, []byte("a\x00b\x00")},
		{"every byte value", KindBytes, -3, all},
		{"pickle", KindPickle, 1, []byte("\x80\x04\x95\x00\x00.")},
		{"invalid UTF-8 text", KindText, 0, []byte{0xff, 0xfe, '\n'}},
	}
	for _, order := range []Order{FIFO, LIFO, Priority} {
		for _, tt := range tests {
			t.Run(order.String()+"/"+tt.name, func(t *testing.T) {
				q := newQueue(t, order, 0)
				require.NoError(t, q.Put(Message{Kind: tt.kind, Priority: tt.priority, Payload: tt.payload}, 0))

				m, err := q.Get(0)

				require.NoError(t, err)
				assert.Equal(t, tt.kind, m.Kind)
				assert.Equal(t, tt.priority, m.Priority)
				assert.Equal(t, len(tt.payload), len(m.Payload))
				assert.Equal(t, string(tt.payload), string(m.Payload))
			})
		}
	}
}

// runProducersConsumers moves total unique messages through q with the
// given numbers of producers and consumers and checks that every message
// arrives exactly once. For a FIFO queue it also checks that each consumer
// sees each producer's messages in the order they were put. A payload is
// the message's number in 8 big-endian bytes, producer p putting the
// numbers p*perProducer up to (p+1)*perProducer-1 in increasing order.
func runProducersConsumers(t *testing.T, q *Queue, producers, consumers, total int) {
	t.Helper()
	perProducer := total / producers
	require.Equal(t, total, perProducer*producers)

	var producersDone sync.WaitGroup
	putErrs := make(chan error, producers)
	for p := 0; p < producers; p++ {
		producersDone.Add(1)
		go func() {
			defer producersDone.Done()
			for n := p * perProducer; n < (p+1)*perProducer; n++ {
				payload := binary.BigEndian.AppendUint64(nil, uint64(n))
				if err := q.Put(Message{Kind: KindBytes, Payload: payload}, testTimeout); err != nil {
					putErrs <- fmt.Errorf("producer %d, message %d: %w", p, n, err)
					return
				}
			}
		}()
	}

	received := make([][]uint64, consumers)
	getErrs := make(chan error, consumers)
	var consumersDone sync.WaitGroup
	for c := 0; c < consumers; c++ {
		consumersDone.Add(1)
		go func() {
			defer consumersDone.Done()
			for {
				m, err := q.Get(testTimeout)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					getErrs <- fmt.Errorf("consumer %d: %w", c, err)
					return
				}
				if len(m.Payload) != 8 {
					getErrs <- fmt.Errorf("consumer %d: payload %x is not 8 bytes", c, m.Payload)
					return
				}
				received[c] = append(received[c], binary.BigEndian.Uint64(m.Payload))
			}
		}()
	}

	within(t, 2*testTimeout, "the producers", producersDone.Wait)
	q.Close()
	within(t, 2*testTimeout, "the consumers", consumersDone.Wait)
	close(putErrs)
	close(getErrs)
	for err := range putErrs {
		t.Error(err)
	}
	for err := range getErrs {
		t.Error(err)
	}

	seen := make([]int, total)
	distinct := 0
	for c, numbers := range received {
		last := make([]int, producers) // the last number consumer c got from each producer
		for p := range last {
			last[p] = -1
		}
		for _, n := range numbers {
			require.Less(t, n, uint64(total), "consumer %d got an unknown message", c)
			if seen[n] == 0 {
				distinct++
			}
			seen[n]++
			p := int(n) / perProducer
			if q.Order() == FIFO {
				require.Greater(t, int(n), last[p], "consumer %d got producer %d's messages out of order", c, p)
			}
			last[p] = int(n)
		}
	}
	assert.Equal(t, total, distinct, "distinct messages received")
	for n, count := range seen {
		if count > 1 {
			t.Errorf("message %d received %d times", n, count)
		}
	}
}

func TestQueueConcurrentProducersConsumers(t *testing.T) {
	tests := []struct {
		name    string
		order   Order
		maxsize int
		total   int
	}{
		{"FIFO unbounded", FIFO, 0, 100_000},
		{"FIFO bounded 1", FIFO, 1, 100_000},
		{"FIFO bounded 16", FIFO, 16, 20_000},
		{"LIFO bounded 1", LIFO, 1, 20_000},
		{"priority bounded 8", Priority, 8, 20_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			q := newQueue(t, tt.order, tt.maxsize)

			runProducersConsumers(t, q, 8, 8, tt.total)

			assert.Equal(t, 0, q.Len())
			assert.Equal(t, 0, parkedGetters(q))
			assert.Equal(t, 0, parkedPutters(q))
		})
	}
}

// A waiter whose timeout expires just as it is woken must pass the
// wake-up on, or a second waiter sleeps while a message or a free slot
// waits for it. Each round parks a waiter with a short timeout, then one
// without a timeout, and releases a message or a slot close to the first
// waiter's deadline.
func TestQueueWakeupHandoffOnTimeout(t *testing.T) {
	tests := []struct {
		name string
		// prepare fills the queue as the waiters need it.
		prepare func(t *testing.T, q *Queue)
		// wait blocks for at most timeout (negative: without limit).
		wait func(q *Queue, timeout time.Duration) error
		// release makes one message or one slot available.
		release func(t *testing.T, q *Queue)
		parked  func(q *Queue) int
		// timeoutErr is what wait returns when its timeout passes.
		timeoutErr error
	}{
		{
			name:       "getters",
			prepare:    func(t *testing.T, q *Queue) {},
			wait:       func(q *Queue, d time.Duration) error { _, err := q.Get(d); return err },
			release:    func(t *testing.T, q *Queue) { mustPut(t, q, "m") },
			parked:     parkedGetters,
			timeoutErr: ErrEmpty,
		},
		{
			name:    "putters",
			prepare: func(t *testing.T, q *Queue) { mustPut(t, q, "fill") },
			wait:    func(q *Queue, d time.Duration) error { return q.Put(textMessage("m"), d) },
			release: func(t *testing.T, q *Queue) {
				_, err := q.Get(0)
				require.NoError(t, err)
			},
			parked:     parkedPutters,
			timeoutErr: ErrFull,
		},
	}
	const (
		rounds       = 300
		firstTimeout = 3 * time.Millisecond
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			rng := rand.New(rand.NewSource(2))
			firstTimedOut := 0
			for round := 0; round < rounds; round++ {
				q, err := NewQueue(FIFO, 1)
				require.NoError(t, err)
				tt.prepare(t, q)

				first := make(chan error, 1)
				start := time.Now()
				go func() { first <- tt.wait(q, firstTimeout) }()
				second := make(chan error, 1)
				spinUntil(t, "the first waiter is parked", func() bool { return tt.parked(q) == 1 || len(first) == 1 })
				go func() { second <- tt.wait(q, -1) }()
				spinUntil(t, "the second waiter is parked", func() bool { return tt.parked(q) == 2 || len(first) == 1 })

				// Release between 1 ms before and 2 ms after the first
				// waiter's deadline.
				offset := time.Duration(rng.Intn(3000)-1000) * time.Microsecond
				for time.Now().Before(start.Add(firstTimeout + offset)) {
					runtime.Gosched()
				}
				tt.release(t, q)

				firstErr := receive(t, first, "the first waiter's result")
				if firstErr == nil {
					// The first waiter took the release; the second still
					// waits and the close ends it.
					q.Close()
					assert.ErrorIs(t, receive(t, second, "the second waiter's result"), ErrClosed, "round %d", round)
				} else {
					require.ErrorIs(t, firstErr, tt.timeoutErr, "round %d", round)
					firstTimedOut++
					require.NoError(t, receive(t, second, "the second waiter's result"),
						"round %d: the second waiter must get what the timed-out first waiter was woken for", round)
					q.Close()
				}
			}
			t.Logf("the first waiter timed out in %d of %d rounds", firstTimedOut, rounds)
		})
	}
}

// spinUntil is waitUntil without sleeping, for conditions that hold only
// for a few milliseconds.
func spinUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", testTimeout, what)
		}
		runtime.Gosched()
	}
}
