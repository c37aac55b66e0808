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
	// peekLen returns the payload length of the message pop would
	// return; the store must not be empty.
	peekLen() int
	len() int
}

// newStore returns an empty store for a queue of the given order and bound
// (0 for none).
func newStore(order Order, maxsize int) store {
	switch order {
	case LIFO:
		return &stack{}
	case Priority:
		return &priorityStore{}
	}
	return &ring{maxSpares: spareBlocks(maxsize)}
}

// spareBlocks returns how many emptied blocks a FIFO store keeps for reuse:
// as many as a full bounded queue needs, so that a queue that fills and
// empties again allocates nothing, and a few for an unbounded one.
func spareBlocks(maxsize int) int {
	if maxsize <= 0 {
		return unboundedSpareBlocks
	}
	return min(maxsize/blockLen+2, maxSpareBlocks)
}

const (
	unboundedSpareBlocks = 4
	maxSpareBlocks       = 64 // 512 KiB of slots
)

// ring is a FIFO store made of fixed-size blocks of compact slots. Growing
// never copies the messages it contains, and its memory follows its
// length, plus the emptied blocks it keeps for reuse (see spareBlocks).
type ring struct {
	blocks    []*block
	head      int // index of the first message in blocks[0]
	n         int
	spares    []*block // emptied blocks kept for reuse
	maxSpares int
}

// blockLen is the number of slots in a block: 204 slots of 40 bytes fill
// 8160 of the 8192 bytes of the allocation size class.
const blockLen = 204

type block [blockLen]slot

// slot is a Message packed into 40 bytes instead of 48, since the store
// may contain millions: the kind, the flags and the put time share one
// word.
type slot struct {
	meta     uint64 // kind | flags<<8 | (putAt>>putAtShift)<<16
	priority int64
	payload  []byte
}

// putAtShift drops the low bits of a put time. The 48 bits left count
// units of 1.024 µs, which last over 9 years of uptime.
const putAtShift = 10

// A slot keeps 8 bits of flags: this fails to compile once a flag needs
// more.
var _ = [1]struct{}{}[(FlagWrapped|FlagSpilled)>>8]

func toSlot(m Message) slot {
	meta := uint64(m.Kind) | uint64(m.Flags)<<8 | uint64(m.putAt>>putAtShift)<<16
	return slot{meta: meta, priority: m.Priority, payload: m.Payload}
}

func (s *slot) message() Message {
	return Message{
		Kind:     Kind(s.meta),
		Flags:    Flags(s.meta >> 8 & 0xff),
		Priority: s.priority,
		Payload:  s.payload,
		putAt:    int64(s.meta>>16) << putAtShift,
	}
}

func (r *ring) len() int { return r.n }

func (r *ring) newBlock() *block {
	if last := len(r.spares) - 1; last >= 0 {
		b := r.spares[last]
		r.spares[last] = nil
		r.spares = r.spares[:last]
		return b
	}
	return new(block)
}

func (r *ring) push(m Message) {
	i := r.head + r.n
	if i/blockLen == len(r.blocks) {
		r.blocks = append(r.blocks, r.newBlock())
	}
	r.blocks[i/blockLen][i%blockLen] = toSlot(m)
	r.n++
}

func (r *ring) pushFront(m Message) {
	if r.head == 0 {
		r.blocks = append([]*block{r.newBlock()}, r.blocks...)
		r.head = blockLen
	}
	r.head--
	r.blocks[0][r.head] = toSlot(m)
	r.n++
}

func (r *ring) peekLen() int { return len(r.blocks[0][r.head].payload) }

func (r *ring) pop() Message {
	first := r.blocks[0]
	m := first[r.head].message()
	first[r.head] = slot{} // drop the payload reference for the collector
	r.head++
	r.n--
	switch {
	case r.n == 0:
		// Start again at the beginning of the only block.
		r.head = 0
	case r.head == blockLen:
		// The first block is used up: keep it for reuse if there is room.
		r.blocks[0] = nil
		r.blocks = r.blocks[1:]
		if len(r.spares) < r.maxSpares {
			r.spares = append(r.spares, first)
		}
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

func (s *stack) peekLen() int { return len(s.items[len(s.items)-1].Payload) }

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

func (p *priorityStore) peekLen() int { return len(p.items[0].m.Payload) }

func (p *priorityStore) pop() Message {
	return heap.Pop(&p.items).(prioritized).m
}
