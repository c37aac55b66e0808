package core

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stressMessage encodes a source number and a sequence number.
func stressMessage(source, seq int) Message {
	payload := make([]byte, 12)
	binary.BigEndian.PutUint32(payload, uint32(source))
	binary.BigEndian.PutUint64(payload[4:], uint64(seq))
	return Message{Kind: KindBytes, Payload: payload}
}

func decodeStress(m Message) (source, seq int) {
	return int(binary.BigEndian.Uint32(m.Payload)), int(binary.BigEndian.Uint64(m.Payload[4:]))
}

// TestLinkStressWithRegistrationChurn moves messages from 8 sources to 8
// destinations while destinations are unregistered and registered again.
// A publisher takes each source's messages in order, so a destination
// registered from one moment to another receives, from each source, one
// unbroken run of sequence numbers: every message taken while it was
// registered and no other. The permanent destination receives everything.
func TestLinkStressWithRegistrationChurn(t *testing.T) {
	checkGoroutines(t)
	const sources = 8
	const churning = 7 // plus one destination registered throughout
	perSource := stressMessagesPerSource

	l := newLink(t)
	srcs := make([]*Queue, sources)
	for i := range srcs {
		srcs[i] = newQueue(t, FIFO, 0)
		register(t, l, srcs[i], Source)
	}
	permanent := newQueue(t, FIFO, 0)
	register(t, l, permanent, Destination)

	// Each registration of a churning destination gets its own queue, so
	// what it received is exactly what arrived during that registration.
	var mu sync.Mutex
	var epochs []*Queue
	current := make([]int64, churning)
	for i := range current {
		q := newQueue(t, FIFO, 0)
		current[i] = register(t, l, q, Destination)
		epochs = append(epochs, q)
	}

	var producers sync.WaitGroup
	for s := range srcs {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for seq := range perSource {
				_ = srcs[s].Put(stressMessage(s, seq), -1)
			}
		}()
	}

	stop := make(chan struct{})
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		for i := 0; ; i = (i + 1) % churning {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
			if err := l.Unregister(current[i], Destination); err != nil {
				panic(err)
			}
			q, _ := NewQueue(FIFO, 0)
			id, err := l.Register(q, Destination)
			if err != nil {
				panic(err)
			}
			mu.Lock()
			current[i] = id
			epochs = append(epochs, q)
			mu.Unlock()
		}
	}()

	producers.Wait()
	for _, s := range srcs {
		require.NoError(t, s.Join(2*time.Minute), "every message is delivered")
	}
	close(stop)
	<-churnDone

	// The permanent destination has every message, in order per source.
	next := make([]int, sources)
	for _, m := range drainMessages(permanent) {
		s, seq := decodeStress(m)
		require.Equal(t, next[s], seq, "permanent destination, source %d", s)
		next[s]++
	}
	for s := range next {
		assert.Equal(t, perSource, next[s], "permanent destination got all of source %d", s)
	}

	// Every registration got one unbroken run per source.
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for e, q := range epochs {
		first := make(map[int]int)
		last := make(map[int]int)
		for _, m := range drainMessages(q) {
			s, seq := decodeStress(m)
			if prev, ok := last[s]; ok {
				require.Equal(t, prev+1, seq, fmt.Sprintf("registration %d, source %d: a gap or a duplicate", e, s))
			} else {
				first[s] = seq
			}
			last[s] = seq
			total++
		}
	}
	t.Logf("%d registrations of churning destinations received %d messages", len(epochs), total)
	assert.Greater(t, len(epochs), churning, "destinations were registered again during the run")
}
