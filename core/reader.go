package core

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// readBufferSize is how many bytes a Reader asks the descriptor for at once.
const readBufferSize = 64 << 10

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Kind is the kind of every message: KindText or KindBytes. The bytes
	// are delivered as read, so text that is not valid UTF-8 is passed on
	// unchanged rather than dropped.
	Kind Kind
	// Name labels the reader in log records.
	Name string
}

// Reader reads a file line by line and puts one message per line on a
// queue. Lines keep their '\n'; a last line without one is delivered as it
// is. Lines are split on the byte '\n' only, so a multi-byte UTF-8
// character is never cut.
//
// A Reader ends at end of file, on Stop, on a read error, or when its
// queue closes. It blocks while the queue is full, so it never drops a
// line it has read unless the queue is closed.
type Reader struct {
	q    *Queue
	f    *os.File
	opts ReaderOptions

	count    atomic.Uint64
	stopOnce sync.Once
	stop     chan struct{} // closed by Stop
	done     chan struct{} // closed when the reading goroutine returns
	err      error         // how the reader ended; written before done closes
}

// NewReader starts a reader of f into q. The reader owns f and closes it
// when it ends; pass a descriptor from OpenDescriptor to keep the
// caller's own open.
func NewReader(q *Queue, f *os.File, opts ReaderOptions) (*Reader, error) {
	if q == nil || f == nil {
		return nil, fmt.Errorf("%w: reader needs a queue and a file", ErrInvalid)
	}
	if opts.Kind != KindText && opts.Kind != KindBytes {
		return nil, fmt.Errorf("%w: reader kind %d is not text (1) or bytes (2)", ErrInvalid, opts.Kind)
	}
	r := &Reader{q: q, f: f, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r, nil
}

// OpenReader opens path for reading and starts a reader of it into q.
func OpenReader(q *Queue, path string, opts ReaderOptions) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(q, f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// Count returns the number of messages put so far.
func (r *Reader) Count() uint64 { return r.count.Load() }

// Alive reports whether the reader still runs.
func (r *Reader) Alive() bool { return !isDone(r.done) }

// Done returns a channel that closes when the reader ends.
func (r *Reader) Done() <-chan struct{} { return r.done }

// Err returns how the reader ended: nil after end of file or Stop,
// ErrClosed when its queue closed, or the read error. It returns nil while
// the reader runs.
func (r *Reader) Err() error {
	if !isDone(r.done) {
		return nil
	}
	return r.err
}

// Stop asks the reader to end and waits until it has. Lines already read
// from the file are delivered first, waiting for room in a full queue.
func (r *Reader) Stop() {
	r.stopOnce.Do(func() {
		close(r.stop)
		// Wakes a read blocked on a pipe; regular files do not block.
		_ = r.f.SetReadDeadline(time.Now())
	})
	<-r.done
}

func (r *Reader) run() {
	defer close(r.done)
	defer r.f.Close()
	log().Debug("reader started", "reader", r.opts.Name, "file", r.f.Name())

	r.err = r.readLines()

	if r.err != nil && !errors.Is(r.err, ErrClosed) {
		log().Error("reader failed", "reader", r.opts.Name, "file", r.f.Name(), "error", r.err)
	}
	log().Debug("reader ended", "reader", r.opts.Name, "messages", r.count.Load())
}

// readLines frames the file into lines until end of file, Stop or an
// error, then delivers the bytes after the last '\n'.
func (r *Reader) readLines() error {
	buf := make([]byte, readBufferSize)
	var long []byte // the start of a line longer than buf
	start, end := 0, 0

	for {
		for {
			i := bytes.IndexByte(buf[start:end], '\n')
			if i < 0 {
				break
			}
			line := buf[start : start+i+1]
			start += i + 1
			if err := r.emit(long, line); err != nil {
				return err
			}
			long = nil
		}

		// Make room: move the partial line to the front, or set it aside
		// when it fills the whole buffer.
		if start == 0 && end == len(buf) {
			long = append(long, buf[:end]...)
			end = 0
		} else if start > 0 {
			end = copy(buf, buf[start:end])
			start = 0
		}

		if isDone(r.stop) {
			break
		}
		n, err := r.f.Read(buf[end:])
		end += n
		if err == nil || n > 0 {
			continue // frame what arrived; an error comes back on the next read
		}
		if err == io.EOF || (errors.Is(err, os.ErrDeadlineExceeded) && isDone(r.stop)) {
			break
		}
		if tail := buf[start:end]; len(long) > 0 || len(tail) > 0 {
			if emitErr := r.emit(long, tail); emitErr != nil {
				return emitErr
			}
		}
		return fmt.Errorf("reading %s failed: %w", r.f.Name(), err)
	}

	if len(long) > 0 || end > start {
		return r.emit(long, buf[start:end])
	}
	return nil
}

// emit puts one line, made of the set-aside head and the rest, on the queue.
func (r *Reader) emit(head, rest []byte) error {
	payload := make([]byte, len(head)+len(rest))
	copy(payload, head)
	copy(payload[len(head):], rest)
	if err := r.q.Put(Message{Kind: r.opts.Kind, Payload: payload}, -1); err != nil {
		return err
	}
	r.count.Add(1)
	return nil
}
