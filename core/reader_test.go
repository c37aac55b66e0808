package core

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawPipe is a pipe made with pipe2(2), whose descriptors the test owns.
// Its cleanup closes the ends that the test has not closed, so that no
// descriptor number is closed twice after the kernel reused it.
type rawPipe struct {
	read, write int // -1 once closed
}

func newRawPipe(t *testing.T) *rawPipe {
	t.Helper()
	var fds [2]int
	require.NoError(t, syscall.Pipe2(fds[:], syscall.O_CLOEXEC))
	p := &rawPipe{read: fds[0], write: fds[1]}
	t.Cleanup(func() {
		if p.read >= 0 {
			_ = syscall.Close(p.read)
		}
		if p.write >= 0 {
			_ = syscall.Close(p.write)
		}
	})
	return p
}

func (p *rawPipe) closeRead(t *testing.T) {
	t.Helper()
	require.NoError(t, syscall.Close(p.read))
	p.read = -1
}

func (p *rawPipe) closeWrite(t *testing.T) {
	t.Helper()
	require.NoError(t, syscall.Close(p.write))
	p.write = -1
}

// writeEndFile moves the write end into an *os.File, which then owns it.
func (p *rawPipe) writeEndFile() *os.File {
	f := os.NewFile(uintptr(p.write), "pipe write end")
	p.write = -1
	return f
}

// requireOpenFD checks that fd is still an open descriptor.
func requireOpenFD(t *testing.T, fd int) {
	t.Helper()
	// The syscall package has no FcntlInt (golang.org/x/sys/unix has), so
	// call fcntl(fd, F_GETFD) directly; it fails with EBADF on a closed fd.
	_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	require.Zero(t, errno, "descriptor %d must still be open: %v", fd, errno)
}

// pipeReader starts a reader of a new os.Pipe into q and returns it with
// the pipe's write end. The test's cleanup stops the reader.
func pipeReader(t *testing.T, q *Queue, opts ReaderOptions) (*Reader, *os.File) {
	t.Helper()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { pw.Close() })
	r, err := NewReader(q, pr, opts)
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	return r, pw
}

// writeAsync writes data to w in a new goroutine and closes w, so a
// reader can take bytes from the pipe while they are written. The
// returned channel delivers the write error.
func writeAsync(w *os.File, chunks ...[]byte) <-chan error {
	errs := make(chan error, 1)
	go func() {
		defer w.Close()
		for _, c := range chunks {
			if _, err := w.Write(c); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	return errs
}

// waitReaderDone waits until r ends and returns its error.
func waitReaderDone(t *testing.T, r *Reader) error {
	t.Helper()
	receive(t, r.Done(), "the reader's end")
	assert.False(t, r.Alive())
	return r.Err()
}

// drainMessages takes every message q holds now.
func drainMessages(q *Queue) []Message {
	var out []Message
	for {
		m, err := q.Get(0)
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}

func payloads(messages []Message) []string {
	out := make([]string, len(messages))
	for i, m := range messages {
		out[i] = string(m.Payload)
	}
	return out
}

func TestReaderLines(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"lines keep newline", "a\nbb\n", []string{"a\n", "bb\n"}},
		{"last line without newline", "a\nlast", []string{"a\n", "last"}},
		{"only a line without newline", "x", []string{"x"}},
		{"empty lines", "\n\nx\n\n", []string{"\n", "\n", "x\n", "\n"}},
		{"empty input", "", nil},
		{"carriage returns kept", "a\r\nb\r\n", []string{"a\r\n", "b\r\n"}},
		{"NUL bytes", "a\x00b\n\x00\n", []string{"a\x00b\n", "\x00\n"}},
		{"invalid UTF-8 passed on", "\xff\xfe\n\xc3", []string{"\xff\xfe\n", "\xc3"}},
	}
	for _, kind := range []Kind{KindText, KindBytes} {
		for _, tt := range tests {
			t.Run(kind.String()+"/"+tt.name, func(t *testing.T) {
				checkGoroutines(t)
				q := newQueue(t, FIFO, 0)
				r, w := pipeReader(t, q, ReaderOptions{Kind: kind, Name: tt.name})

				require.NoError(t, receive(t, writeAsync(w, []byte(tt.input)), "the write"))

				require.NoError(t, waitReaderDone(t, r))
				messages := drainMessages(q)
				if tt.want == nil {
					assert.Empty(t, messages)
				} else {
					assert.Equal(t, tt.want, payloads(messages))
				}
				for _, m := range messages {
					assert.Equal(t, kind, m.Kind)
				}
				assert.Equal(t, uint64(len(tt.want)), r.Count())
			})
		}
	}
}

// patterned returns n bytes that differ from their neighbors' chunks, so a
// reordered or repeated chunk shows, and that contain no '\n'.
func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((i/7+int(seed))%26)
	}
	return b
}

func TestReaderLongLines(t *testing.T) {
	tests := []struct {
		name    string
		length  int
		newline bool
	}{
		{"64 KiB minus 1", readBufferSize - 1, true},
		{"64 KiB", readBufferSize, true},
		{"64 KiB plus 1", readBufferSize + 1, true},
		{"more than three buffers", 3*readBufferSize + 5, true},
		{"1 MiB", 1 << 20, true},
		{"64 KiB last line without newline", readBufferSize, false},
		{"1 MiB last line without newline", 1 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			q := newQueue(t, FIFO, 0)
			r, w := pipeReader(t, q, ReaderOptions{Kind: KindBytes})
			long := patterned(tt.length, 3)
			want := []string{"head\n"}
			input := append([]byte("head\n"), long...)
			if tt.newline {
				input = append(input, '\n')
				input = append(input, "tail\n"...)
				want = append(want, string(long)+"\n", "tail\n")
			} else {
				want = append(want, string(long))
			}

			// Writes of odd sizes cut the line at many places.
			var chunks [][]byte
			for len(input) > 0 {
				n := min(len(input), 40_000)
				chunks = append(chunks, input[:n])
				input = input[n:]
			}
			require.NoError(t, receive(t, writeAsync(w, chunks...), "the write"))

			require.NoError(t, waitReaderDone(t, r))
			got := payloads(drainMessages(q))
			require.Len(t, got, len(want))
			for i := range want {
				assert.Equal(t, len(want[i]), len(got[i]), "length of message %d", i)
				assert.True(t, want[i] == got[i], "message %d differs", i)
			}
		})
	}
}

func TestReaderUTF8SplitAcrossWrites(t *testing.T) {
	checkGoroutines(t)
	q := newQueue(t, FIFO, 0)
	r, w := pipeReader(t, q, ReaderOptions{Kind: KindText})
	text := "héllo wörld\n日本語のテキスト\n🎉 done"
	var chunks [][]byte
	for i := 0; i < len(text); i++ {
		chunks = append(chunks, []byte{text[i]}) // splits every multi-byte character
	}

	errs := make(chan error, 1)
	go func() {
		defer w.Close()
		for _, c := range chunks {
			if _, err := w.Write(c); err != nil {
				errs <- err
				return
			}
			// Give the reader time to take a partial character.
			time.Sleep(50 * time.Microsecond)
		}
		errs <- nil
	}()
	require.NoError(t, receive(t, errs, "the write"))

	require.NoError(t, waitReaderDone(t, r))
	got := payloads(drainMessages(q))
	assert.Equal(t, []string{"héllo wörld\n", "日本語のテキスト\n", "🎉 done"}, got)
	for _, line := range got {
		assert.True(t, utf8.ValidString(line), "line %q", line)
	}
}

func TestReaderSubprocessThroughDescriptor(t *testing.T) {
	tests := []struct {
		name string
		args []string
		kind Kind
		want func() []string
	}{
		{
			name: "seq",
			args: []string{"seq", "1", "20000"},
			kind: KindText,
			want: func() []string {
				lines := make([]string, 20000)
				for i := range lines {
					lines[i] = strconv.Itoa(i+1) + "\n"
				}
				return lines
			},
		},
		{
			name: "printf with NUL and no final newline",
			args: []string{"printf", `a\000b\n\nend`},
			kind: KindBytes,
			want: func() []string { return []string{"a\x00b\n", "\n", "end"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := exec.LookPath(tt.args[0])
			if err != nil {
				t.Skipf("%s is not installed: %v", tt.args[0], err)
			}
			checkGoroutines(t)
			q := newQueue(t, FIFO, 0)
			pipe := newRawPipe(t)
			cmd := exec.Command(path, tt.args[1:]...)
			childOut := pipe.writeEndFile()
			cmd.Stdout = childOut
			require.NoError(t, cmd.Start())
			require.NoError(t, childOut.Close(), "the child keeps its own copy of the write end")
			f, err := OpenDescriptor(pipe.read, false)
			require.NoError(t, err)
			r, err := NewReader(q, f, ReaderOptions{Kind: tt.kind, Name: tt.name})
			require.NoError(t, err)

			var waitErr error
			within(t, testTimeout, "the child", func() { waitErr = cmd.Wait() })
			require.NoError(t, waitErr)
			require.NoError(t, waitReaderDone(t, r))

			messages := drainMessages(q)
			assert.Equal(t, tt.want(), payloads(messages))
			assert.Equal(t, uint64(len(messages)), r.Count())
			for _, m := range messages {
				require.Equal(t, tt.kind, m.Kind)
			}
			requireOpenFD(t, pipe.read)
		})
	}
}

func TestReaderStopIdlePipe(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) *os.File
	}{
		{
			name: "os.Pipe",
			open: func(t *testing.T) *os.File {
				pr, pw, err := os.Pipe()
				require.NoError(t, err)
				t.Cleanup(func() { pw.Close() })
				return pr
			},
		},
		{
			name: "OpenDescriptor of a pipe",
			open: func(t *testing.T) *os.File {
				pipe := newRawPipe(t)
				f, err := OpenDescriptor(pipe.read, false)
				require.NoError(t, err)
				t.Cleanup(func() { requireOpenFD(t, pipe.read) })
				return f
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			q := newQueue(t, FIFO, 0)
			r, err := NewReader(q, tt.open(t), ReaderOptions{Kind: KindText})
			require.NoError(t, err)
			assert.True(t, r.Alive())
			assert.NoError(t, r.Err(), "Err is nil while the reader runs")

			within(t, testTimeout, "Stop", r.Stop)
			within(t, testTimeout, "a second Stop", r.Stop)

			assert.False(t, r.Alive())
			assert.NoError(t, r.Err())
			assert.Equal(t, uint64(0), r.Count())
		})
	}
}

func TestReaderStopDeliversPartialLine(t *testing.T) {
	checkGoroutines(t)
	q := newQueue(t, FIFO, 0)
	r, w := pipeReader(t, q, ReaderOptions{Kind: KindText})

	// One write of less than PIPE_BUF bytes reaches the reader whole.
	_, err := w.Write([]byte("line1\npartial"))
	require.NoError(t, err)
	waitUntil(t, testTimeout, "the first line is put", func() bool { return r.Count() == 1 })
	within(t, testTimeout, "Stop", r.Stop)

	assert.NoError(t, r.Err())
	assert.Equal(t, []string{"line1\n", "partial"}, payloads(drainMessages(q)))
	assert.Equal(t, uint64(2), r.Count())
}

func TestReaderStopWithFullQueue(t *testing.T) {
	checkGoroutines(t)
	q := newQueue(t, FIFO, 1)
	r, w := pipeReader(t, q, ReaderOptions{Kind: KindText})
	_, err := w.Write([]byte("a\nb\nc\n"))
	require.NoError(t, err)
	waitUntil(t, testTimeout, "the reader waits for room", func() bool { return r.Count() == 1 && parkedPutters(q) == 1 })

	within(t, testTimeout, "Stop with a full queue", r.Stop)

	assert.NoError(t, r.Err())
	assert.Equal(t, []string{"a\n", "b\n", "c\n"}, getAll(t, q, 3), "lines read before Stop arrive in order")
	waitUntil(t, testTimeout, "every line is counted", func() bool { return r.Count() == 3 })
}

func TestReaderStopWithFullQueueThenClose(t *testing.T) {
	checkGoroutines(t)
	records := captureLog(t)
	q := newQueue(t, FIFO, 1)
	r, w := pipeReader(t, q, ReaderOptions{Kind: KindText, Name: "full"})
	_, err := w.Write([]byte("a\nb\nc\n"))
	require.NoError(t, err)
	waitUntil(t, testTimeout, "the reader waits for room", func() bool { return r.Count() == 1 && parkedPutters(q) == 1 })
	within(t, testTimeout, "Stop with a full queue", r.Stop)

	q.Close()

	const dropped = "lines read before stop were dropped: the queue closed"
	waitUntil(t, testTimeout, "the reader logs the dropped lines", func() bool {
		return strings.Contains(records.String(), dropped)
	})
	record := findRecord(logRecords(t, records), dropped)
	assert.Equal(t, "full", record["reader"])
	assert.Equal(t, float64(2), record["lines"])
	assert.Equal(t, uint64(1), r.Count())
	assert.Equal(t, []string{"a\n"}, payloads(drainMessages(q)))
}

func TestReaderQueueClosed(t *testing.T) {
	tests := []struct {
		name        string
		closeBefore bool
		wantCount   uint64
	}{
		{"closed before the first line", true, 0},
		{"closed while waiting for room", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			q := newQueue(t, FIFO, 1)
			if tt.closeBefore {
				q.Close()
			}
			r, w := pipeReader(t, q, ReaderOptions{Kind: KindText})
			_, err := w.Write([]byte("a\nb\nc\n"))
			require.NoError(t, err)
			if !tt.closeBefore {
				waitUntil(t, testTimeout, "the reader waits for room", func() bool { return parkedPutters(q) == 1 })
				q.Close()
			}

			err = waitReaderDone(t, r)

			assert.ErrorIs(t, err, ErrClosed)
			assert.Equal(t, tt.wantCount, r.Count())
		})
	}
}

func TestReaderOpenPath(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "input.txt")
	require.NoError(t, os.WriteFile(path, []byte("one\ntwo\n\nthree"), 0o644))
	q := newQueue(t, FIFO, 0)

	r, err := OpenReader(q, path, ReaderOptions{Kind: KindText})
	require.NoError(t, err)

	require.NoError(t, waitReaderDone(t, r))
	assert.Equal(t, []string{"one\n", "two\n", "\n", "three"}, payloads(drainMessages(q)))
	assert.Equal(t, uint64(4), r.Count())
}

func TestReaderOpenMissingPath(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "missing.txt")
	q := newQueue(t, FIFO, 0)

	r, err := OpenReader(q, path, ReaderOptions{Kind: KindText})

	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Nil(t, r)
	assert.Contains(t, err.Error(), path)
}

func TestReaderDirectoryPathRejected(t *testing.T) {
	dir := t.TempDir()
	q := newQueue(t, FIFO, 0)

	r, err := OpenReader(q, dir, ReaderOptions{Kind: KindBytes})
	assert.Nil(t, r)
	require.ErrorIs(t, err, syscall.EISDIR, "a directory is rejected when the reader is created")
	assert.Contains(t, err.Error(), dir)
}

func TestReaderDirectoryDescriptorIsReadError(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	q := newQueue(t, FIFO, 0)
	d, err := os.Open(dir)
	require.NoError(t, err)
	defer d.Close()
	f, err := OpenDescriptor(int(d.Fd()), false)
	require.NoError(t, err)

	r, err := NewReader(q, f, ReaderOptions{Kind: KindBytes})
	require.NoError(t, err, "a directory descriptor opens; reading it fails")
	err = waitReaderDone(t, r)
	require.ErrorIs(t, err, syscall.EISDIR)
	assert.Equal(t, 0, q.Len())
}

func TestReaderInvalidArguments(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() {
		pr.Close()
		pw.Close()
	})
	q := newQueue(t, FIFO, 0)
	tests := []struct {
		name string
		q    *Queue
		f    *os.File
		opts ReaderOptions
		want string
	}{
		{"nil queue", nil, pr, ReaderOptions{Kind: KindText}, "queue"},
		{"nil file", q, nil, ReaderOptions{Kind: KindText}, "file"},
		{"kind zero", q, pr, ReaderOptions{}, "kind 0"},
		{"pickle lines", q, pr, ReaderOptions{Kind: KindPickle}, "kind 3"},
		{"text frames", q, pr, ReaderOptions{Kind: KindText, Framing: FrameConnection}, "kind 1"},
		{"unknown framing", q, pr, ReaderOptions{Kind: KindBytes, Framing: 7}, "framing 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(tt.q, tt.f, tt.opts)

			require.ErrorIs(t, err, ErrInvalid)
			assert.Nil(t, r)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestOpenDescriptorErrors(t *testing.T) {
	pipe := newRawPipe(t)
	closedRead := pipe.read
	pipe.closeRead(t)
	pipe.closeWrite(t)
	tests := []struct {
		name    string
		fd      int
		wantErr error
	}{
		{"negative", -1, ErrInvalid},
		{"closed", closedRead, syscall.EBADF},
	}
	for _, tt := range tests {
		for _, write := range []bool{false, true} {
			t.Run(tt.name+"/write="+strconv.FormatBool(write), func(t *testing.T) {
				f, err := OpenDescriptor(tt.fd, write)

				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, f)
				assert.Contains(t, err.Error(), "descriptor "+strconv.Itoa(tt.fd))
			})
		}
	}
}

// A regular file's descriptor is duplicated, so the reader starts at the
// caller's offset.
func TestOpenDescriptorRegularFile(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "input.txt")
	require.NoError(t, os.WriteFile(path, []byte("skip\nkeep\n"), 0o644))
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	_, err = syscall.Seek(fd, int64(len("skip\n")), io.SeekStart)
	require.NoError(t, err)
	q := newQueue(t, FIFO, 0)

	f, err := OpenDescriptor(fd, false)
	require.NoError(t, err)
	r, err := NewReader(q, f, ReaderOptions{Kind: KindText})
	require.NoError(t, err)

	require.NoError(t, waitReaderDone(t, r))
	assert.Equal(t, []string{"keep\n"}, payloads(drainMessages(q)))
	requireOpenFD(t, fd)
}

func TestReaderNamedPipe(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	q := newQueue(t, FIFO, 0)

	r, err := OpenReader(q, path, ReaderOptions{Kind: KindText})
	require.NoError(t, err, "OpenReader must not wait for the pipe's writer")
	var w *os.File
	within(t, testTimeout, "opening the named pipe for writing", func() {
		w, err = os.OpenFile(path, os.O_WRONLY, 0)
	})
	require.NoError(t, err)
	_, err = w.Write([]byte("x\ny\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	require.NoError(t, waitReaderDone(t, r))
	assert.Equal(t, []string{"x\n", "y\n"}, payloads(drainMessages(q)))
}

func TestReaderNamedPipeStopWithoutWriter(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	q := newQueue(t, FIFO, 0)
	r, err := OpenReader(q, path, ReaderOptions{Kind: KindText})
	require.NoError(t, err)

	within(t, testTimeout, "Stop while no writer opened the pipe", r.Stop)

	assert.NoError(t, r.Err())
	assert.Equal(t, 0, q.Len())
}

// connectionFrame encodes payload as Python's Connection.send_bytes
// does; long selects the header for payloads over 0x7fffffff bytes.
func connectionFrame(payload []byte, long bool) []byte {
	var frame []byte
	if long {
		frame = binary.BigEndian.AppendUint32(frame, 0xffffffff) // -1
		frame = binary.BigEndian.AppendUint64(frame, uint64(len(payload)))
	} else {
		frame = binary.BigEndian.AppendUint32(frame, uint32(len(payload)))
	}
	return append(frame, payload...)
}

func TestReaderConnectionFrames(t *testing.T) {
	big := patterned(300_000, 5)
	tests := []struct {
		name    string
		kind    Kind
		input   []byte
		want    []string
		wantErr string // empty: the reader ends with a nil error
	}{
		{
			name: "several frames",
			kind: KindBytes,
			input: bytes.Join([][]byte{
				connectionFrame([]byte("abc"), false),
				connectionFrame(nil, false),
				connectionFrame([]byte("line\nwith\x00NUL"), false),
				connectionFrame(big, false),
			}, nil),
			want: []string{"abc", "", "line\nwith\x00NUL", string(big)},
		},
		{
			name:  "long header",
			kind:  KindPickle,
			input: connectionFrame([]byte("\x80\x04K\x01."), true),
			want:  []string{"\x80\x04K\x01."},
		},
		{
			name:    "stream ends inside a header",
			kind:    KindBytes,
			input:   append(connectionFrame([]byte("ok"), false), 0, 0),
			want:    []string{"ok"},
			wantErr: "frame header",
		},
		{
			name:    "stream ends inside a payload",
			kind:    KindBytes,
			input:   connectionFrame([]byte("cut"), false)[:5],
			wantErr: "after 1 of a frame's 3 bytes",
		},
		{
			name:    "negative length",
			kind:    KindBytes,
			input:   []byte{0xff, 0xff, 0xff, 0xfe},
			wantErr: "frame length -2 is invalid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			q := newQueue(t, FIFO, 0)
			r, w := pipeReader(t, q, ReaderOptions{Kind: tt.kind, Framing: FrameConnection})

			require.NoError(t, receive(t, writeAsync(w, tt.input), "the write"))

			err := waitReaderDone(t, r)
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
			}
			messages := drainMessages(q)
			got := payloads(messages)
			if tt.want == nil {
				assert.Empty(t, got)
			} else {
				assert.Equal(t, tt.want, got)
			}
			for _, m := range messages {
				assert.Equal(t, tt.kind, m.Kind)
			}
		})
	}
}
