package core

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// readBufferSize is the number of bytes a Reader requests from the descriptor per read.
const readBufferSize = 64 << 10

// Framing is the rule by which a Reader splits its input into messages.
type Framing int

// Framings. Their values match the QL_FRAME_* constants of the C ABI.
const (
	// FrameLines makes one message per line, split on '\n'.
	FrameLines Framing = 0
	// FrameConnection makes one message per frame of a Python
	// multiprocessing Connection, as its send_bytes writes them.
	FrameConnection Framing = 1
)

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Kind is the kind of every message. Lines are KindText or KindBytes;
	// the bytes are delivered as read, so text that is not valid UTF-8 is
	// passed on unchanged rather than dropped. Connection frames are
	// KindBytes, or KindPickle when the sender is trusted to send pickles.
	Kind Kind
	// Framing selects lines (the default) or Connection frames.
	Framing Framing
	// Wrap selects the lines delivered with FlagWrapped, and those whose
	// payload goes to a spill file instead of memory (see WrapWhen).
	Wrap WrapWhen
	// WrapThreshold is the line length in bytes that Wrap compares with;
	// 0 means DefaultWrapThreshold.
	WrapThreshold int64
	// SpillDir is the directory of spill files; "" means the system's
	// temporary directory.
	SpillDir string
	// PartialLineTimeout, when positive, delivers the bytes after the
	// last '\n' as a line once no more data has arrived for that long, so
	// a prompt without a newline reaches the consumer while the program
	// waits for input. It applies to pipes, sockets and terminals; reads
	// of regular files never wait.
	PartialLineTimeout time.Duration

	// bufferSize overrides readBufferSize, so tests and fuzzing can reach
	// the paths of lines that span buffers with small inputs.
	bufferSize int
	// Name labels the reader in log records.
	Name string
}

// Reader reads a file line by line and puts one message per line on a
// queue. Lines keep their '\n'; a last line without one is delivered as it
// is. Lines are split on the byte '\n' only, so a multi-byte UTF-8
// character is never cut.
//
// A Reader ends at end of file, on Stop, on a read error, or when its
// queue closes. It waits while the queue is full, so it never drops a line
// it has read unless the queue is closed. Stop never waits for room: lines
// already read that do not fit are delivered in the background once the
// queue has room.
type Reader struct {
	q    *Queue
	f    *os.File
	opts ReaderOptions

	count    atomic.Uint64
	stopOnce sync.Once
	stop     chan struct{} // closed by Stop
	opened   chan struct{} // closed once f is set; f is not written after
	done     chan struct{} // closed when the reading goroutine returns
	err      error         // the error the reader ended with; written before done closes

	fifo string // path of a named pipe that run opens, or ""

	// leftover holds lines read before Stop that found the queue full,
	// in order; only the reading goroutine touches it.
	leftover []Message

	// pending holds lines framed but not yet put, which flush puts under
	// one lock; only the reading goroutine touches it.
	pending []Message
}

// readerBatch is the most lines a reader frames before it puts them.
const readerBatch = 64

// NewReader starts a reader of f into q. The reader owns f and closes it
// when it ends; pass a descriptor from OpenDescriptor to keep the
// caller's own open.
func NewReader(q *Queue, f *os.File, opts ReaderOptions) (*Reader, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: reader needs a file", ErrInvalid)
	}
	r, err := newReader(q, opts)
	if err != nil {
		return nil, err
	}
	r.f = f
	close(r.opened)
	q.acquire()
	go r.run()
	return r, nil
}

// OpenReader opens path for reading and starts a reader of it into q.
//
// Opening a named pipe waits for a writer, so for a named pipe the reader
// checks the path now and opens it in the background instead.
func OpenReader(q *Queue, path string, opts ReaderOptions) (*Reader, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, &os.PathError{Op: "open", Path: path, Err: syscall.EISDIR}
	}
	if info.Mode()&os.ModeNamedPipe != 0 {
		if err := syscall.Access(path, 4 /* R_OK */); err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		r, err := newReader(q, opts)
		if err != nil {
			return nil, err
		}
		r.fifo = path
		q.acquire()
		go r.run()
		return r, nil
	}

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

// newReader checks the options and returns a reader that is not started.
func newReader(q *Queue, opts ReaderOptions) (*Reader, error) {
	if q == nil {
		return nil, fmt.Errorf("%w: reader needs a queue", ErrInvalid)
	}
	switch {
	case opts.Framing == FrameLines && opts.Kind != KindText && opts.Kind != KindBytes:
		return nil, fmt.Errorf("%w: a line reader's kind %d is not text (1) or bytes (2)", ErrInvalid, opts.Kind)
	case opts.Framing == FrameConnection && opts.Kind != KindBytes && opts.Kind != KindPickle:
		return nil, fmt.Errorf("%w: a Connection reader's kind %d is not bytes (2) or pickle (3)", ErrInvalid, opts.Kind)
	case opts.Framing != FrameLines && opts.Framing != FrameConnection:
		return nil, fmt.Errorf("%w: reader framing %d is not lines (0) or Connection frames (1)", ErrInvalid, opts.Framing)
	case opts.Wrap != WrapNever && opts.Wrap != WrapAuto && opts.Wrap != WrapAlways:
		return nil, fmt.Errorf("%w: wrap rule %d is not never (0), auto (1) or always (2)", ErrInvalid, opts.Wrap)
	case opts.WrapThreshold < 0:
		return nil, fmt.Errorf("%w: wrap threshold %d is negative", ErrInvalid, opts.WrapThreshold)
	case opts.PartialLineTimeout < 0:
		return nil, fmt.Errorf("%w: partial line timeout %v is negative", ErrInvalid, opts.PartialLineTimeout)
	}
	if opts.WrapThreshold == 0 {
		opts.WrapThreshold = DefaultWrapThreshold
	}
	if opts.bufferSize <= 0 {
		opts.bufferSize = readBufferSize
	}
	return &Reader{
		q:      q,
		opts:   opts,
		stop:   make(chan struct{}),
		opened: make(chan struct{}),
		done:   make(chan struct{}),
	}, nil
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

// Stop asks the reader to end and waits until it has stopped reading. It
// does not wait for room in a full queue: lines already read that do not
// fit are put in the background as room appears, in order, and are
// dropped (and logged) only if the queue closes first.
func (r *Reader) Stop() {
	r.stopOnce.Do(func() {
		close(r.stop)
		if !r.waitOpened() {
			return
		}
		// Wakes a read blocked on a pipe or socket; regular files do not block.
		_ = r.f.SetReadDeadline(time.Now())
	})
	<-r.done
}

func (r *Reader) run() {
	defer r.q.release()
	if r.fifo != "" {
		if err := r.openFIFO(); err != nil {
			r.err = err
			log().Error("reader failed", "reader", r.opts.Name, "error", err)
			close(r.done)
			return
		}
	}
	log().Debug("reader started", "reader", r.opts.Name, "file", r.f.Name())

	if r.opts.Framing == FrameConnection {
		r.err = r.readFrames()
	} else {
		r.err = r.readLines()
	}
	r.f.Close()
	if r.err != nil && !errors.Is(r.err, ErrClosed) {
		log().Error("reader failed", "reader", r.opts.Name, "file", r.f.Name(), "error", r.err)
	}
	leftover := r.leftover
	r.leftover = nil
	close(r.done)

	for i, m := range leftover {
		if err := r.q.Put(m, -1); err != nil {
			log().Error("lines read before stop were dropped: the queue closed",
				"reader", r.opts.Name, "lines", len(leftover)-i)
			for _, dropped := range leftover[i:] {
				Discard(dropped)
			}
			break
		}
		r.count.Add(1)
	}
	log().Debug("reader ended", "reader", r.opts.Name, "messages", r.count.Load())
}

// deliver puts m on the queue with the lines before it, in batches: m
// waits in pending until readerBatch lines are there or flush is called.
func (r *Reader) deliver(m Message) error {
	r.pending = append(r.pending, m)
	if len(r.pending) >= readerBatch {
		return r.flush()
	}
	return nil
}

// flush puts the pending lines: those that fit at once under one lock,
// the others as put does. The reader calls it before every read that may
// block, so batching delays no line.
func (r *Reader) flush() error {
	batch := r.pending
	defer func() {
		clear(batch)
		r.pending = batch[:0]
	}()
	for i := 0; i < len(batch); i++ {
		if len(r.leftover) == 0 {
			n, err := r.q.putAvailable(batch[i:])
			r.count.Add(uint64(n))
			i += n
			if err != nil {
				for _, m := range batch[i:] {
					Discard(m)
				}
				return err
			}
			if i == len(batch) {
				return nil
			}
		}
		if err := r.put(batch[i]); err != nil {
			for _, m := range batch[i+1:] {
				Discard(m)
			}
			return err
		}
	}
	return nil
}

// put puts a message on the queue. After Stop it never waits for room:
// a message that does not fit joins the leftovers that run delivers later.
func (r *Reader) put(m Message) error {
	if len(r.leftover) > 0 {
		r.leftover = append(r.leftover, m) // keep order behind the earlier ones
		return nil
	}
	err := r.q.put(m, -1, r.stop, nil) // Stop cancels only a wait for room
	if err == ErrCanceled {
		r.leftover = append(r.leftover, m)
		return nil
	}
	if err != nil {
		Discard(m)
		return err
	}
	r.count.Add(1)
	return nil
}
