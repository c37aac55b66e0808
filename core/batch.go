package core

import (
	"math"
	"sync/atomic"
	"time"
)

// PutBatch puts msgs in order: as many as fit at once, then the rest as
// room appears, waiting at most timeout in all. It returns how many it
// put; when that is fewer than len(msgs), the error says why (ErrFull
// when the timeout passed, ErrClosed when the queue closed).
func (q *Queue) PutBatch(msgs []Message, timeout time.Duration) (int, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	done := 0
	for done < len(msgs) {
		n, err := q.putAvailable(msgs[done:])
		done += n
		if err != nil || done == len(msgs) {
			return done, err
		}

		// The queue is full: wait for room for the next message.
		wait := timeout
		if timeout > 0 {
			wait = time.Until(deadline)
			if wait <= 0 {
				return done, ErrFull
			}
		}
		if err := q.put(msgs[done], wait, nil, nil); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// putAvailable puts as many of msgs as fit now, under one lock.
func (q *Queue) putAvailable(msgs []Message) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	n := len(msgs)
	if q.maxsize > 0 {
		n = min(n, q.maxsize-q.items.len())
	}
	now := nanotime()
	for i := range n {
		m := msgs[i]
		m.putAt = now
		q.items.push(m)
		q.getters.signalOne()
	}
	q.unfinished += int64(n)
	return n, nil
}

// GetBatch appends up to max messages to dst and returns it. It waits at
// most timeout for the first message; the others are taken only if they
// are already there. Errors are those of Get.
func (q *Queue) GetBatch(dst []Message, max int, timeout time.Duration) ([]Message, error) {
	dst, _, err := q.getBatch(dst, max, math.MaxInt, timeout, nil, nil, nil)
	return dst, err
}

// GetBatchFit is GetBatch with a budget for payloads: it stops before a
// message whose payload would bring the bytes taken above maxBytes. When
// the next message alone is larger than maxBytes, it stays in the queue,
// and GetBatchFit returns ErrTooLarge with that message's payload length.
func (q *Queue) GetBatchFit(dst []Message, max, maxBytes int, timeout time.Duration) ([]Message, int, error) {
	return q.getBatch(dst, max, maxBytes, timeout, nil, nil, nil)
}

// getBatch is GetBatchFit with the cancel channels and taken flag of get.
func (q *Queue) getBatch(dst []Message, max, maxBytes int, timeout time.Duration, cancel1, cancel2 <-chan struct{}, taken *atomic.Bool) ([]Message, int, error) {
	if max <= 0 {
		return dst, 0, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.waitItem(timeout, cancel1, cancel2); err != nil {
		return dst, 0, err
	}
	if n := q.items.peekLen(); n > maxBytes {
		// Another getter may be able to take it.
		q.getters.signalOne()
		return dst, n, ErrTooLarge
	}
	if taken != nil {
		taken.Store(true)
	}
	for ; max > 0 && q.items.len() > 0; max-- {
		n := q.items.peekLen()
		if n > maxBytes {
			break
		}
		maxBytes -= n
		dst = append(dst, q.items.pop())
		q.putters.signalOne()
	}
	return dst, 0, nil
}
