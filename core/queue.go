package core

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Order is the order in which a Queue hands out its messages.
type Order int

// Queue orders. Their values match the QL_ORDER_* constants of the C ABI.
const (
	FIFO     Order = 0 // first in, first out
	LIFO     Order = 1 // last in, first out
	Priority Order = 2 // lowest Message.Priority first, FIFO among equals
)

func (o Order) String() string {
	switch o {
	case FIFO:
		return "FIFO"
	case LIFO:
		return "LIFO"
	case Priority:
		return "priority"
	}
	return fmt.Sprintf("Order(%d)", int(o))
}

// Queue is a thread-safe message queue, unbounded or bounded.
//
// Timeouts follow one rule everywhere: a negative timeout blocks until the
// call can complete, zero never blocks, and a positive one waits at most
// that long. Get on an empty queue and Put on a full bounded queue block;
// closing the queue wakes every waiter. After Close, Put fails with
// ErrClosed and Get returns the messages still held, then ErrClosed.
//
// Every Put counts a task that TaskDone finishes; Join waits until all
// tasks are finished, as Python's queue.Queue does.
type Queue struct {
	order   Order
	maxsize int

	mu         sync.Mutex // guards every field below
	items      store
	closed     bool
	unfinished int64
	getters    waitList // goroutines blocked in Get, woken one per message
	putters    waitList // goroutines blocked in Put, woken one per free slot
	joiners    waitList // goroutines blocked in Join, all woken at zero

	// users counts the links, readers and writers that use the queue.
	users atomic.Int32
}

// acquire and release count a link, reader or writer that uses the queue.
func (q *Queue) acquire() { q.users.Add(1) }
func (q *Queue) release() { q.users.Add(-1) }

// InUse reports whether a link, reader or writer uses the queue.
func (q *Queue) InUse() bool { return q.users.Load() > 0 }

// NewQueue returns an open queue with the given order. maxsize <= 0 makes
// it unbounded.
func NewQueue(order Order, maxsize int) (*Queue, error) {
	if order != FIFO && order != LIFO && order != Priority {
		return nil, fmt.Errorf("%w: queue order %d is not FIFO (0), LIFO (1) or priority (2)", ErrInvalid, int(order))
	}
	if maxsize < 0 {
		maxsize = 0
	}
	q := &Queue{order: order, maxsize: maxsize, items: newStore(order, maxsize)}
	// A queue dropped with spilled messages in it removes their files.
	runtime.AddCleanup(q, discardStore, q.items)
	return q, nil
}

// discardStore removes the spill files of the messages left in a store
// that nothing references any more.
func discardStore(items store) {
	for items.len() > 0 {
		Discard(items.pop())
	}
}

// Order returns the order the queue was created with.
func (q *Queue) Order() Order { return q.order }

// Maxsize returns the queue's bound, or 0 when it is unbounded.
func (q *Queue) Maxsize() int { return q.maxsize }

// Len returns the number of messages held.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items.len()
}

// Full reports whether a bounded queue holds maxsize messages.
func (q *Queue) Full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.maxsize > 0 && q.items.len() >= q.maxsize
}

// Closed reports whether Close was called.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Close closes the queue and wakes every blocked Put, Get and Join.
// Closing twice is allowed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.getters.signalAll()
	q.putters.signalAll()
	q.joiners.signalAll()
}

// Drain closes the queue and drops every message it holds, removing their
// spill files. It returns how many messages it dropped.
func (q *Queue) Drain() int {
	q.mu.Lock()
	q.closed = true
	var dropped []Message
	for q.items.len() > 0 {
		dropped = append(dropped, q.items.pop())
	}
	q.getters.signalAll()
	q.putters.signalAll()
	q.joiners.signalAll()
	q.mu.Unlock()

	for _, m := range dropped {
		Discard(m)
	}
	return len(dropped)
}

// Put adds m, waiting for room in a bounded queue for at most timeout.
// It returns ErrFull when the timeout passes and ErrClosed when the queue
// is or becomes closed.
func (q *Queue) Put(m Message, timeout time.Duration) error {
	return q.put(m, timeout, nil, nil)
}

// PutCancel is Put that also gives up with ErrCanceled when cancel closes
// while it waits for room.
func (q *Queue) PutCancel(m Message, timeout time.Duration, cancel <-chan struct{}) error {
	return q.put(m, timeout, cancel, nil)
}

func (q *Queue) put(m Message, timeout time.Duration, cancel1, cancel2 <-chan struct{}) error {
	var timer *time.Timer
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			stopTimer(timer)
			return ErrClosed
		}
		if q.maxsize == 0 || q.items.len() < q.maxsize {
			m.putAt = nanotime()
			q.items.push(m)
			q.unfinished++
			q.getters.signalOne()
			q.mu.Unlock()
			stopTimer(timer)
			return nil
		}
		if timeout == 0 {
			q.mu.Unlock()
			return ErrFull
		}
		if timer == nil && timeout > 0 {
			timer = time.NewTimer(timeout)
		}
		w := q.putters.add()
		q.mu.Unlock()

		err := await(w, timer, cancel1, cancel2)

		q.mu.Lock()
		q.putters.remove(w)
		if err != nil && !q.closed && (q.maxsize == 0 || q.items.len() < q.maxsize) {
			// Room appeared as the wait ended: pass the wake-up on so
			// another putter does not miss it.
			q.putters.signalOne()
		}
		if err == ErrTimeout {
			q.mu.Unlock()
			return ErrFull
		}
		if err != nil {
			q.mu.Unlock()
			return err
		}
	}
}

// Get takes the next message, waiting for one for at most timeout. It
// returns ErrEmpty when the timeout passes and ErrClosed when the queue is
// closed and holds no more messages.
func (q *Queue) Get(timeout time.Duration) (Message, error) {
	return q.get(timeout, nil, nil, nil)
}

// GetCancel is Get that also gives up with ErrCanceled when cancel closes
// while it waits.
func (q *Queue) GetCancel(timeout time.Duration, cancel <-chan struct{}) (Message, error) {
	return q.get(timeout, cancel, nil, nil)
}

// get is Get with two cancel channels. When taken is not nil, it is set
// before the queue's lock is released, so an observer that finds the queue
// empty also sees that the message is held.
func (q *Queue) get(timeout time.Duration, cancel1, cancel2 <-chan struct{}, taken *atomic.Bool) (Message, error) {
	q.mu.Lock()
	if err := q.waitItem(timeout, cancel1, cancel2); err != nil {
		q.mu.Unlock()
		return Message{}, err
	}
	m := q.items.pop()
	if taken != nil {
		taken.Store(true)
	}
	q.putters.signalOne()
	q.mu.Unlock()
	return m, nil
}

// waitItem waits until the queue holds a message, for at most timeout. It
// is called with q.mu held and returns with it held. Its errors are those
// of Get.
func (q *Queue) waitItem(timeout time.Duration, cancel1, cancel2 <-chan struct{}) error {
	var timer *time.Timer
	defer func() { stopTimer(timer) }()
	for q.items.len() == 0 {
		if q.closed {
			return ErrClosed
		}
		if timeout == 0 {
			return ErrEmpty
		}
		if timer == nil && timeout > 0 {
			timer = time.NewTimer(timeout)
		}
		w := q.getters.add()
		q.mu.Unlock()

		err := await(w, timer, cancel1, cancel2)

		q.mu.Lock()
		q.getters.remove(w)
		if err != nil && q.items.len() > 0 {
			// A message arrived as the wait ended: pass the wake-up on
			// so another getter does not miss it.
			q.getters.signalOne()
		}
		if err == ErrTimeout {
			return ErrEmpty
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// requeue returns a message taken with Get to the front of the queue,
// ignoring the bound, without counting a new task: the task of the first
// Get is still unfinished. It reports false when the queue is closed.
func (q *Queue) requeue(m Message) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.items.pushFront(m)
	q.getters.signalOne()
	return true
}

// TaskDone finishes one task counted by Put. It returns ErrTaskDone when
// every task is already finished.
func (q *Queue) TaskDone() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.unfinished <= 0 {
		return ErrTaskDone
	}
	q.unfinished--
	if q.unfinished == 0 {
		q.joiners.signalAll()
	}
	return nil
}

// room returns how many messages a Put could add now without waiting.
func (q *Queue) room() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0
	}
	if q.maxsize == 0 {
		return math.MaxInt
	}
	return q.maxsize - q.items.len()
}

// taskDoneN finishes n tasks at once; see TaskDone.
func (q *Queue) taskDoneN(n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.unfinished < int64(n) {
		q.unfinished = 0
		q.joiners.signalAll()
		return ErrTaskDone
	}
	q.unfinished -= int64(n)
	if q.unfinished == 0 {
		q.joiners.signalAll()
	}
	return nil
}

// Join waits for at most timeout until every task counted by Put has been
// finished with TaskDone. It returns ErrTimeout when the timeout passes
// and ErrClosed when the queue is closed with tasks unfinished.
func (q *Queue) Join(timeout time.Duration) error {
	var timer *time.Timer
	q.mu.Lock()
	for {
		if q.unfinished == 0 {
			q.mu.Unlock()
			stopTimer(timer)
			return nil
		}
		if q.closed {
			q.mu.Unlock()
			stopTimer(timer)
			return ErrClosed
		}
		if timeout == 0 {
			q.mu.Unlock()
			return ErrTimeout
		}
		if timer == nil && timeout > 0 {
			timer = time.NewTimer(timeout)
		}
		w := q.joiners.add()
		q.mu.Unlock()

		err := await(w, timer, nil, nil)

		q.mu.Lock()
		q.joiners.remove(w)
		if err != nil {
			q.mu.Unlock()
			return err
		}
	}
}
