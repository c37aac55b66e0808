package core

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRingMatchesSlice runs random pushes, front pushes and pops on the
// FIFO store and on a plain slice, across many block boundaries, and
// checks that both hand out the same messages.
func TestRingMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := &ring{maxSpares: 2}
	var model []string
	next := 0
	for step := range 20_000 {
		switch op := rng.IntN(20); {
		case op < 10:
			p := strconv.Itoa(next)
			next++
			r.push(Message{Payload: []byte(p)})
			model = append(model, p)
		case op == 10:
			p := "front" + strconv.Itoa(next)
			next++
			r.pushFront(Message{Payload: []byte(p)})
			model = append([]string{p}, model...)
		default:
			if len(model) == 0 {
				continue
			}
			require.Equal(t, len(model[0]), r.peekLen(), "step %d", step)
			require.Equal(t, model[0], string(r.pop().Payload), "step %d", step)
			model = model[1:]
		}
		require.Equal(t, len(model), r.len(), "step %d", step)
	}
	for len(model) > 0 {
		require.Equal(t, model[0], string(r.pop().Payload))
		model = model[1:]
	}
	assert.Equal(t, 0, r.len())
}

// TestRingKeepsFewSpareBlocks fills the FIFO store with many blocks and
// empties it: it keeps only maxSpares of the blocks it used.
func TestRingKeepsFewSpareBlocks(t *testing.T) {
	r := &ring{maxSpares: 3}
	for i := range 10 * blockLen {
		r.push(Message{Payload: []byte{byte(i)}})
	}
	assert.Len(t, r.blocks, 10)
	for range 10*blockLen - 1 {
		r.pop()
	}
	assert.Len(t, r.blocks, 1, "used-up blocks leave the store")
	assert.Len(t, r.spares, 3, "only maxSpares blocks are kept")
	r.pop()
	assert.Equal(t, 0, r.head, "an empty store starts again at the front of its block")

	for i := range 4 * blockLen {
		r.push(Message{Payload: []byte{byte(i)}})
	}
	assert.Empty(t, r.spares, "spare blocks are used before new ones")
}

func TestSpareBlocksFollowTheBound(t *testing.T) {
	assert.Equal(t, unboundedSpareBlocks, spareBlocks(0))
	assert.Equal(t, 2, spareBlocks(10))
	assert.Equal(t, 1024/blockLen+2, spareBlocks(1024))
	assert.Equal(t, maxSpareBlocks, spareBlocks(1<<30))
}

func TestGetBatchFitStopsAtTheBudget(t *testing.T) {
	for _, order := range []Order{FIFO, LIFO, Priority} {
		t.Run(order.String(), func(t *testing.T) {
			q, err := NewQueue(order, 0)
			require.NoError(t, err)
			for _, p := range []string{"aaaa", "bbbb", "cccc"} {
				require.NoError(t, q.Put(Message{Kind: KindBytes, Payload: []byte(p)}, 0))
			}
			got, _, err := q.GetBatchFit(nil, 10, 9, 0)
			require.NoError(t, err)
			assert.Len(t, got, 2, "two payloads of 4 bytes fit in 9")
			assert.Equal(t, 1, q.Len())

			got, need, err := q.GetBatchFit(nil, 10, 3, 0)
			assert.ErrorIs(t, err, ErrTooLarge)
			assert.Empty(t, got)
			assert.Equal(t, 4, need, "the length of the message that does not fit")
			assert.Equal(t, 1, q.Len(), "the message stays in the queue")
		})
	}
}

func TestGetBatchFitWaitsAndTimesOut(t *testing.T) {
	q, err := NewQueue(FIFO, 0)
	require.NoError(t, err)
	_, _, err = q.GetBatchFit(nil, 4, 100, 10*time.Millisecond)
	assert.ErrorIs(t, err, ErrEmpty)

	go func() {
		time.Sleep(10 * time.Millisecond)
		_ = q.Put(Message{Kind: KindText, Payload: []byte("late")}, 0)
	}()
	got, _, err := q.GetBatchFit(nil, 4, 100, -1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "late", string(got[0].Payload))

	q.Close()
	_, _, err = q.GetBatchFit(nil, 4, 100, -1)
	assert.ErrorIs(t, err, ErrClosed)
}

// TestGetBatchFitPassesOnTheWakeUp checks that a getter that cannot take
// the next message, because it is too large, lets another waiting getter
// take it.
func TestGetBatchFitPassesOnTheWakeUp(t *testing.T) {
	q, err := NewQueue(FIFO, 0)
	require.NoError(t, err)
	small := make(chan error, 1)
	go func() {
		_, _, err := q.GetBatchFit(nil, 1, 2, -1)
		small <- err
	}()
	large := make(chan []Message, 1)
	go func() {
		got, _, _ := q.GetBatchFit(nil, 1, 100, -1)
		large <- got
	}()
	time.Sleep(20 * time.Millisecond) // let both wait
	require.NoError(t, q.Put(Message{Kind: KindBytes, Payload: []byte("too large for two")}, 0))

	select {
	case got := <-large:
		require.Len(t, got, 1)
	case <-time.After(5 * time.Second):
		t.Fatal("the getter with room never received the message")
	}
	q.Close()
	assert.Error(t, <-small)
}

func TestSlotKeepsEveryField(t *testing.T) {
	m := Message{Kind: KindPickle, Flags: FlagWrapped | FlagSpilled, Priority: -7, Payload: []byte("p"), putAt: 123_456_789_012}
	s := toSlot(m)
	got := s.message()
	assert.Equal(t, m.Kind, got.Kind)
	assert.Equal(t, m.Flags, got.Flags)
	assert.Equal(t, m.Priority, got.Priority)
	assert.Equal(t, m.Payload, got.Payload)
	assert.LessOrEqual(t, got.putAt, m.putAt)
	assert.Less(t, m.putAt-got.putAt, int64(1)<<putAtShift, "the put time loses less than one unit")
	assert.Equal(t, uintptr(40), unsafe.Sizeof(s))
	assert.LessOrEqual(t, unsafe.Sizeof(block{}), uintptr(8192))
}
