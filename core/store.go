package core

import "container/heap"

// store is the ordered container behind a Queue. It is not safe for
// concurrent use: Queue.mu guards it.
type store interface {
	push(m Message)
	// pushFront returns a message taken from the store to the place it
	// would be taken from next.
	pushFront(m Message)
	pop() Message
	len() int
}

func newStore(order Order) store {
	switch order {
	case LIFO:
		return &stack{}
	case Priority:
		return &priorityStore{}
	}
	return &ring{}
}

// ring is a FIFO store: a growable circular buffer.
type ring struct {
	buf  []Message
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) grow() {
	size := 2 * len(r.buf)
	if size == 0 {
		size = 16
	}
	buf := make([]Message, size)
	tail := copy(buf, r.buf[r.head:])
	copy(buf[tail:], r.buf[:r.head])
	r.buf = buf
	r.head = 0
}

func (r *ring) push(m Message) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = m
	r.n++
}

func (r *ring) pushFront(m Message) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = m
	r.n++
}

func (r *ring) pop() Message {
	m := r.buf[r.head]
	r.buf[r.head] = Message{} // drop the payload reference for the collector
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	if r.n == 0 {
		r.head = 0
	}
	return m
}

// stack is a LIFO store.
type stack struct {
	items []Message
}

func (s *stack) len() int            { return len(s.items) }
func (s *stack) push(m Message)      { s.items = append(s.items, m) }
func (s *stack) pushFront(m Message) { s.items = append(s.items, m) }

func (s *stack) pop() Message {
	last := len(s.items) - 1
	m := s.items[last]
	s.items[last] = Message{}
	s.items = s.items[:last]
	return m
}

// priorityStore hands out the lowest Priority first and keeps FIFO order
// among equal priorities with a sequence number.
type priorityStore struct {
	items priorityHeap
	next  int64 // sequence number of the next push
	first int64 // sequence number below every stored one, for pushFront
}

type prioritized struct {
	m   Message
	seq int64
}

type priorityHeap []prioritized

func (h priorityHeap) Len() int { return len(h) }
func (h priorityHeap) Less(i, j int) bool {
	if h[i].m.Priority != h[j].m.Priority {
		return h[i].m.Priority < h[j].m.Priority
	}
	return h[i].seq < h[j].seq
}
func (h priorityHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *priorityHeap) Push(x any)   { *h = append(*h, x.(prioritized)) }
func (h *priorityHeap) Pop() any {
	old := *h
	last := len(old) - 1
	x := old[last]
	old[last] = prioritized{}
	*h = old[:last]
	return x
}

func (p *priorityStore) len() int { return len(p.items) }

func (p *priorityStore) push(m Message) {
	heap.Push(&p.items, prioritized{m: m, seq: p.next})
	p.next++
}

func (p *priorityStore) pushFront(m Message) {
	p.first--
	heap.Push(&p.items, prioritized{m: m, seq: p.first})
}

func (p *priorityStore) pop() Message {
	return heap.Pop(&p.items).(prioritized).m
}
