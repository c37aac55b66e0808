package core

import "time"

// waitList is a FIFO list of parked goroutines, each waiting on its own
// channel. It is not safe for concurrent use: the owner's mutex guards it.
type waitList struct {
	waiters []chan struct{}
}

// add parks a new waiter and returns the channel it waits on.
func (l *waitList) add() chan struct{} {
	w := make(chan struct{}, 1)
	l.waiters = append(l.waiters, w)
	return w
}

// remove drops w if it is still parked.
func (l *waitList) remove(w chan struct{}) {
	for i, x := range l.waiters {
		if x == w {
			copy(l.waiters[i:], l.waiters[i+1:])
			l.waiters[len(l.waiters)-1] = nil
			l.waiters = l.waiters[:len(l.waiters)-1]
			return
		}
	}
}

// signalOne wakes the longest-parked waiter, if any, and unparks it. It
// costs nothing when nobody waits.
func (l *waitList) signalOne() {
	if len(l.waiters) == 0 {
		return
	}
	w := l.waiters[0]
	copy(l.waiters, l.waiters[1:])
	l.waiters[len(l.waiters)-1] = nil
	l.waiters = l.waiters[:len(l.waiters)-1]
	w <- struct{}{}
}

// signalAll wakes and unparks every waiter.
func (l *waitList) signalAll() {
	for i, w := range l.waiters {
		w <- struct{}{}
		l.waiters[i] = nil
	}
	l.waiters = l.waiters[:0]
}

// await blocks until w is signalled (nil error), timer fires (ErrTimeout)
// or one of the cancel channels closes (ErrCanceled). A nil timer or
// channel never fires.
func await(w chan struct{}, timer *time.Timer, cancel1, cancel2 <-chan struct{}) error {
	var expired <-chan time.Time
	if timer != nil {
		expired = timer.C
	}
	select {
	case <-w:
		return nil
	case <-expired:
		return ErrTimeout
	case <-cancel1:
		return ErrCanceled
	case <-cancel2:
		return ErrCanceled
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// epoch anchors nanotime to the monotonic clock.
var epoch = time.Now()

// nanotime returns monotonic nanoseconds since the package was loaded.
func nanotime() int64 {
	return int64(time.Since(epoch))
}
