package core

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func makeFIFO(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	return path
}

func TestWriterStopOnUnreadFIFO(t *testing.T) {
	checkGoroutines(t)
	path := makeFIFO(t)
	q := newQueue(t, FIFO, 0)
	w, err := OpenWriter(q, path, WriterOptions{})
	require.NoError(t, err)
	require.NoError(t, q.Put(textMessage("kept\n"), 0))
	waitUntil(t, testTimeout, "the writer takes the message", func() bool { return q.Len() == 0 })

	within(t, testTimeout, "Stop of a writer waiting for a reader of its named pipe", w.Stop)
	assert.NoError(t, w.Err())
	assert.Equal(t, uint64(0), w.Count())
	assert.Equal(t, []string{"kept\n"}, drain(q), "the message goes back to the queue")
}

func TestWriterWritesToFIFO(t *testing.T) {
	checkGoroutines(t)
	path := makeFIFO(t)
	q := newQueue(t, FIFO, 0)
	w, err := OpenWriter(q, path, WriterOptions{})
	require.NoError(t, err)
	putAll(t, q, []string{"a\n", "b\n"})

	got := make(chan string, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		data, _ := io.ReadAll(f)
		got <- string(data)
	}()
	waitUntil(t, testTimeout, "both messages are written", func() bool { return w.Count() == 2 })
	within(t, testTimeout, "Stop", w.Stop)
	assert.Equal(t, "a\nb\n", receive(t, got, "the named pipe's content"))
}

func TestWriterStopOnFullPipe(t *testing.T) {
	checkGoroutines(t)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	f, err := OpenDescriptor(int(pw.Fd()), true)
	require.NoError(t, err)
	pw.Close()
	q := newQueue(t, FIFO, 0)
	w, err := NewWriter(q, f, WriterOptions{})
	require.NoError(t, err)

	// Nobody reads the pipe, so its buffer fills and a write blocks.
	big := make([]byte, 1<<20)
	require.NoError(t, q.Put(Message{Kind: KindBytes, Payload: big}, 0))
	waitUntil(t, testTimeout, "the writer takes the message", func() bool { return q.Len() == 0 })

	within(t, testTimeout, "Stop of a writer blocked on a full pipe", w.Stop)
	assert.ErrorIs(t, w.Err(), os.ErrDeadlineExceeded)
}
