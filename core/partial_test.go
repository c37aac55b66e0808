package core

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReaderDeliversPartialLineAfterTimeout(t *testing.T) {
	checkGoroutines(t)
	q := newQueue(t, FIFO, 0)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pw.Close()
	f, err := OpenDescriptor(int(pr.Fd()), false)
	require.NoError(t, err)
	pr.Close()
	r, err := NewReader(q, f, ReaderOptions{Kind: KindText, PartialLineTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	defer r.Stop()

	_, err = pw.Write([]byte("password: "))
	require.NoError(t, err)
	m, err := q.Get(testTimeout)
	require.NoError(t, err)
	assert.Equal(t, "password: ", string(m.Payload), "the prompt arrives while the writer waits")

	_, err = pw.Write([]byte("line\n"))
	require.NoError(t, err)
	m, err = q.Get(testTimeout)
	require.NoError(t, err)
	assert.Equal(t, "line\n", string(m.Payload))
}

func TestReaderWithoutTimeoutKeepsPartialLine(t *testing.T) {
	checkGoroutines(t)
	q := newQueue(t, FIFO, 0)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	f, err := OpenDescriptor(int(pr.Fd()), false)
	require.NoError(t, err)
	pr.Close()
	r, err := NewReader(q, f, ReaderOptions{Kind: KindText})
	require.NoError(t, err)

	_, err = pw.Write([]byte("password: "))
	require.NoError(t, err)
	_, err = q.Get(100 * time.Millisecond)
	assert.ErrorIs(t, err, ErrEmpty, "without the option a partial line waits for its newline")

	pw.Close()
	receive(t, r.Done(), "reader end")
	m, err := q.Get(0)
	require.NoError(t, err)
	assert.Equal(t, "password: ", string(m.Payload), "end of file delivers it")
}

func TestReaderRejectsNegativePartialLineTimeout(t *testing.T) {
	q := newQueue(t, FIFO, 0)
	_, err := OpenReader(q, os.DevNull, ReaderOptions{Kind: KindText, PartialLineTimeout: -time.Second})
	assert.ErrorIs(t, err, ErrInvalid)
}
