package core

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	// testTimeout bounds every step that should finish. It is far above
	// what a step needs, so hitting it means a hang, not a slow machine.
	testTimeout = 10 * time.Second
	// shortTimeout is the timeout of calls that are expected to time out.
	shortTimeout = 20 * time.Millisecond
)

// within runs f in a new goroutine and fails the test when f has not
// returned after d. f must not call require or t.FailNow, which work only
// on the test's own goroutine, so it stores results for the caller to check.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// waitUntil polls cond every millisecond and fails the test when it is
// still false after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// receive returns the next value from c and fails the test when none
// arrives within testTimeout.
func receive[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("%s did not arrive within %v", what, testTimeout)
		panic("unreachable")
	}
}

// checkGoroutines records the number of goroutines now and, when the test
// and its other cleanups are done, fails the test if the number does not
// return to that baseline within testTimeout. Call it first in a test, so
// that its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(testTimeout)
		for runtime.NumGoroutine() > baseline {
			if time.Now().After(deadline) {
				var stacks strings.Builder
				_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
				t.Fatalf("%d goroutines still run, %d before the test:\n%s",
					runtime.NumGoroutine(), baseline, stacks.String())
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// newQueue returns a new queue and closes it when the test ends.
func newQueue(t *testing.T, order Order, maxsize int) *Queue {
	t.Helper()
	q, err := NewQueue(order, maxsize)
	require.NoError(t, err)
	t.Cleanup(q.Close)
	return q
}

func textMessage(s string) Message {
	return Message{Kind: KindText, Payload: []byte(s)}
}

// mustPut puts a text message without waiting for room.
func mustPut(t *testing.T, q *Queue, s string) {
	t.Helper()
	require.NoError(t, q.Put(textMessage(s), 0))
}

// getAll takes n messages, waiting at most testTimeout for each, and
// returns their payloads as strings.
func getAll(t *testing.T, q *Queue, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		m, err := q.Get(testTimeout)
		require.NoError(t, err, "getting message %d of %d", i+1, n)
		out = append(out, string(m.Payload))
	}
	return out
}

// drain takes every message the queue holds now, without waiting.
func drain(q *Queue) []string {
	var out []string
	for {
		m, err := q.Get(0)
		if err != nil {
			return out
		}
		out = append(out, string(m.Payload))
	}
}

// parkedGetters returns how many goroutines wait in Get on q.
func parkedGetters(q *Queue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.getters.waiters)
}

// parkedPutters returns how many goroutines wait in Put on q.
func parkedPutters(q *Queue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.putters.waiters)
}

// parkedJoiners returns how many goroutines wait in Join on q.
func parkedJoiners(q *Queue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.joiners.waiters)
}

// lockedBuffer is a bytes.Buffer that goroutines can write concurrently,
// as a log handler's output.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
