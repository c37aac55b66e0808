package core

import (
	"bytes"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openWriter starts a writer of q to path and stops it when the test ends.
func openWriter(t *testing.T, q *Queue, path string, opts WriterOptions) *Writer {
	t.Helper()
	w, err := OpenWriter(q, path, opts)
	require.NoError(t, err)
	t.Cleanup(w.Stop)
	return w
}

// waitWriterDone waits until w ends and returns its error.
func waitWriterDone(t *testing.T, w *Writer) error {
	t.Helper()
	receive(t, w.Done(), "the writer's end")
	assert.False(t, w.Alive())
	return w.Err()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func TestWriterOpensPathLazily(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "out.txt")
	q := newQueue(t, FIFO, 0)
	w := openWriter(t, q, path, WriterOptions{Name: "lazy"})
	waitUntil(t, testTimeout, "the writer waits for a message", func() bool { return parkedGetters(q) == 1 })

	_, err := os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist, "the file must not exist before the first message")

	mustPut(t, q, "hello\n")

	// The queue runs empty after one message, so the writer flushes it
	// without a Stop.
	waitUntil(t, testTimeout, "the message is in the file", func() bool {
		data, err := os.ReadFile(path)
		return err == nil && string(data) == "hello\n"
	})
	assert.True(t, w.Alive())
	within(t, testTimeout, "Stop", w.Stop)
	assert.NoError(t, w.Err())
	assert.Equal(t, "hello\n", readFile(t, path))
	assert.Equal(t, uint64(1), w.Count())
}

func TestWriterStopWithoutMessageCreatesNoFile(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "out.txt")
	q := newQueue(t, FIFO, 0)
	w := openWriter(t, q, path, WriterOptions{})

	within(t, testTimeout, "Stop", w.Stop)
	within(t, testTimeout, "a second Stop", w.Stop)

	assert.NoError(t, w.Err())
	_, err := os.Stat(path)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestWriterTruncateOrAppend(t *testing.T) {
	tests := []struct {
		name     string
		existing *string // nil: no file before the writer
		append   bool
		messages []string
		want     string
	}{
		{"truncate existing", ptr("old\n"), false, []string{"new\n"}, "new\n"},
		{"append existing", ptr("old\n"), true, []string{"new\n"}, "old\nnew\n"},
		{"truncate creates", nil, false, []string{"a", "b\n"}, "ab\n"},
		{"append creates", nil, true, []string{"new\n"}, "new\n"},
		{"truncate waits for a message", ptr("old\n"), false, nil, "old\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			path := filepath.Join(t.TempDir(), "out.txt")
			if tt.existing != nil {
				require.NoError(t, os.WriteFile(path, []byte(*tt.existing), 0o644))
			}
			q := newQueue(t, FIFO, 0)
			w := openWriter(t, q, path, WriterOptions{Append: tt.append})

			for _, m := range tt.messages {
				mustPut(t, q, m)
			}
			require.NoError(t, q.Join(testTimeout), "the writer finishes a task per message")
			within(t, testTimeout, "Stop", w.Stop)

			assert.NoError(t, w.Err())
			assert.Equal(t, tt.want, readFile(t, path))
			assert.Equal(t, uint64(len(tt.messages)), w.Count())
		})
	}
}

func ptr(s string) *string { return &s }

// randomMessages returns n messages of random kinds and lengths from 0 to
// 300 bytes, every byte value included, and their payloads concatenated.
func randomMessages(n int, seed int64) ([]Message, []byte) {
	rng := rand.New(rand.NewSource(seed))
	messages := make([]Message, n)
	var all bytes.Buffer
	for i := range messages {
		payload := make([]byte, rng.Intn(301))
		rng.Read(payload)
		if len(payload) > 0 && i%3 == 0 {
			payload[rng.Intn(len(payload))] = 0
		}
		messages[i] = Message{Kind: Kind(1 + i%3), Payload: payload}
		all.Write(payload)
	}
	return messages, all.Bytes()
}

func TestWriterBytesIdenticalToPath(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "out.bin")
	q := newQueue(t, FIFO, 64)
	messages, want := randomMessages(20_000, 4)
	w := openWriter(t, q, path, WriterOptions{})

	for _, m := range messages {
		require.NoError(t, q.Put(m, testTimeout))
	}
	q.Close()

	require.NoError(t, waitWriterDone(t, w), "a closed and empty queue ends the writer")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, len(want), len(got))
	assert.True(t, bytes.Equal(want, got), "the file differs from the payloads")
	assert.Equal(t, uint64(len(messages)), w.Count())
	assert.NoError(t, q.Join(0))
}

// readFD reads n bytes, or up to end of file when n < 0, from a blocking
// descriptor.
func readFD(fd, n int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 32<<10)
	for n < 0 || len(out) < n {
		size := len(buf)
		if n >= 0 {
			size = min(size, n-len(out))
		}
		got, err := syscall.Read(fd, buf[:size])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return out, err
		}
		if got == 0 {
			return out, nil
		}
		out = append(out, buf[:got]...)
	}
	return out, nil
}

func TestWriterToPipeThroughDescriptor(t *testing.T) {
	checkGoroutines(t)
	pipe := newRawPipe(t)
	q := newQueue(t, FIFO, 0)
	messages, want := randomMessages(2_000, 5)
	f, err := OpenDescriptor(pipe.write, true)
	require.NoError(t, err)
	w, err := NewWriter(q, f, WriterOptions{Name: "pipe"})
	require.NoError(t, err)
	t.Cleanup(w.Stop)

	// The pipe holds 64 KiB, less than the payloads, so read while the
	// writer writes.
	type result struct {
		data []byte
		err  error
	}
	readDone := make(chan result, 1)
	go func() {
		data, err := readFD(pipe.read, len(want))
		readDone <- result{data, err}
	}()
	for _, m := range messages {
		require.NoError(t, q.Put(m, 0))
	}

	got := receive(t, readDone, "the pipe's contents")
	require.NoError(t, got.err)
	assert.Equal(t, len(want), len(got.data))
	assert.True(t, bytes.Equal(want, got.data), "the pipe's contents differ from the payloads")
	require.NoError(t, q.Join(testTimeout))
	within(t, testTimeout, "Stop", w.Stop)
	assert.NoError(t, w.Err())
	assert.Equal(t, uint64(len(messages)), w.Count())
	requireOpenFD(t, pipe.write)

	// Only the caller's write end is left: closing it ends the stream.
	pipe.closeWrite(t)
	var rest []byte
	within(t, testTimeout, "reading to the end of the pipe", func() { rest, err = readFD(pipe.read, -1) })
	require.NoError(t, err)
	assert.Empty(t, rest)
}

func TestWriterStopLeavesQueuedMessages(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "out.txt")
	q := newQueue(t, FIFO, 0)
	const messages = 100_000
	for i := 0; i < messages; i++ {
		mustPut(t, q, strconv.Itoa(i)+"\n")
	}
	w := openWriter(t, q, path, WriterOptions{})

	within(t, testTimeout, "Stop", w.Stop)

	assert.NoError(t, w.Err())
	written := int(w.Count())
	// Writing 100,000 messages takes far longer than the Stop call that
	// follows the writer's start.
	assert.Greater(t, q.Len(), 0, "Stop must not write the whole queue")
	assert.Equal(t, messages, written+q.Len())
	var want bytes.Buffer
	for i := 0; i < written; i++ {
		want.WriteString(strconv.Itoa(i) + "\n")
	}
	if written > 0 {
		assert.Equal(t, want.String(), readFile(t, path), "the file holds exactly the written messages")
	}
	m, err := q.Get(0)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(written)+"\n", string(m.Payload), "the queue keeps the rest in order")
}

func TestWriterEndsWhenQueueClosedAndEmpty(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "out.txt")
	q := newQueue(t, FIFO, 0)
	w := openWriter(t, q, path, WriterOptions{})
	mustPut(t, q, "a\n")
	mustPut(t, q, "b\n")

	q.Close()

	require.NoError(t, waitWriterDone(t, w))
	assert.Equal(t, "a\nb\n", readFile(t, path))
	assert.Equal(t, uint64(2), w.Count())
	assert.NoError(t, q.Join(0))
}

func TestOpenWriterErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	require.NoError(t, os.WriteFile(regular, nil, 0o644))
	readOnlyFile := filepath.Join(dir, "read-only")
	require.NoError(t, os.WriteFile(readOnlyFile, []byte("keep"), 0o444))
	readOnlyDir := filepath.Join(dir, "read-only-dir")
	require.NoError(t, os.Mkdir(readOnlyDir, 0o555))
	tests := []struct {
		name      string
		path      string
		wantErr   error
		wantText  string
		needsUser bool // root bypasses permission bits
	}{
		{"empty path", "", ErrInvalid, "path is empty", false},
		{"missing directory", filepath.Join(dir, "missing", "out.txt"), fs.ErrNotExist, "", false},
		{"directory path", dir, syscall.EISDIR, "", false},
		{"parent is a file", filepath.Join(regular, "out.txt"), syscall.ENOTDIR, "", false},
		{"unwritable file", readOnlyFile, syscall.EACCES, "", true},
		{"unwritable directory", filepath.Join(readOnlyDir, "out.txt"), syscall.EACCES, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needsUser && os.Geteuid() == 0 {
				t.Skip("root may write regardless of permission bits")
			}
			checkGoroutines(t)
			q := newQueue(t, FIFO, 0)

			w, err := OpenWriter(q, tt.path, WriterOptions{})

			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, w)
			if tt.wantText == "" {
				tt.wantText = strconv.Quote(tt.path)
			}
			assert.Contains(t, err.Error(), tt.wantText)
		})
	}
	assert.Equal(t, "keep", readFile(t, readOnlyFile))
}

func TestWriterInvalidArguments(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() {
		pr.Close()
		pw.Close()
	})
	q := newQueue(t, FIFO, 0)

	_, err = NewWriter(nil, pw, WriterOptions{})
	assert.ErrorIs(t, err, ErrInvalid, "nil queue")
	_, err = NewWriter(q, nil, WriterOptions{})
	assert.ErrorIs(t, err, ErrInvalid, "nil file")
	_, err = OpenWriter(nil, filepath.Join(t.TempDir(), "out"), WriterOptions{})
	assert.ErrorIs(t, err, ErrInvalid, "nil queue with a path")
}

// The directory may disappear between OpenWriter's check and the first
// message; the writer then ends with the error and gives the message back.
func TestWriterOpenFailsAtFirstMessage(t *testing.T) {
	checkGoroutines(t)
	dir := filepath.Join(t.TempDir(), "gone")
	require.NoError(t, os.Mkdir(dir, 0o755))
	q := newQueue(t, FIFO, 0)
	w := openWriter(t, q, filepath.Join(dir, "out.txt"), WriterOptions{})
	require.NoError(t, os.Remove(dir))

	mustPut(t, q, "kept\n")

	err := waitWriterDone(t, w)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, uint64(0), w.Count())
	assert.Equal(t, []string{"kept\n"}, drain(q), "the message goes back to the queue")
}

func TestWriterWriteErrorOnClosedPipe(t *testing.T) {
	tests := []struct {
		name string
		// open returns the file for the writer after closing the pipe's
		// read end, and the caller's descriptor to check afterwards (or
		// -1).
		open func(t *testing.T) (*os.File, int)
	}{
		{
			name: "os.Pipe",
			open: func(t *testing.T) (*os.File, int) {
				pr, pw, err := os.Pipe()
				require.NoError(t, err)
				require.NoError(t, pr.Close())
				return pw, -1
			},
		},
		{
			name: "OpenDescriptor of a pipe",
			open: func(t *testing.T) (*os.File, int) {
				pipe := newRawPipe(t)
				pipe.closeRead(t)
				f, err := OpenDescriptor(pipe.write, true)
				require.NoError(t, err)
				return f, pipe.write
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			records := captureLog(t)
			q := newQueue(t, FIFO, 0)
			f, callerFD := tt.open(t)
			w, err := NewWriter(q, f, WriterOptions{Name: "broken"})
			require.NoError(t, err)
			t.Cleanup(w.Stop)

			// Go turns SIGPIPE into EPIPE for descriptors other than 1 and 2,
			// so this write fails instead of ending the test process.
			mustPut(t, q, "lost\n")

			err = waitWriterDone(t, w)
			require.ErrorIs(t, err, syscall.EPIPE)
			record := findRecord(logRecords(t, records), "writer failed")
			require.NotNil(t, record, "log:\n%s", records.String())
			assert.Equal(t, "broken", record["writer"])
			if callerFD >= 0 {
				requireOpenFD(t, callerFD)
			}
		})
	}
}
