package core

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// FlushInterval is the longest a written message waits in a Writer's
// buffer, and how often a Writer syncs a regular file to disk.
const FlushInterval = time.Second

const writeBufferSize = 64 << 10

// WriterOptions configures a Writer.
type WriterOptions struct {
	// Name labels the writer in log records.
	Name string
	// Append makes OpenWriter append to an existing file instead of
	// truncating it.
	Append bool
}

// Writer takes every message from a queue and writes its payload to a
// file, whatever the message's kind.
//
// It buffers what it writes and flushes when the queue runs empty, at
// least every FlushInterval, and when it ends. Regular files are also
// synced to disk every FlushInterval and at the end. It calls TaskDone on
// the queue for each message written. It ends on Stop, when the queue is
// closed and empty, or on a write error.
type Writer struct {
	q    *Queue
	opts WriterOptions

	// Before the first message, f is nil for a writer of a path, which
	// open then opens. Only the writing goroutine touches f, out and
	// regular.
	f       *os.File
	path    string
	out     *bufio.Writer
	regular bool // f is a regular file, which Sync writes to disk

	current     atomic.Pointer[os.File] // f, for Stop to set a write deadline
	fifoOpening atomic.Bool             // run waits in open() of a named pipe

	count    atomic.Uint64
	stopOnce sync.Once
	stop     chan struct{} // closed by Stop
	done     chan struct{} // closed when the writing goroutine returns
	err      error         // the error the writer ended with; written before done closes
}

// NewWriter starts a writer of q to f. The writer owns f and closes it
// when it ends; pass a descriptor from OpenDescriptor to keep the caller's
// own open.
func NewWriter(q *Queue, f *os.File, opts WriterOptions) (*Writer, error) {
	if q == nil || f == nil {
		return nil, fmt.Errorf("%w: writer needs a queue and a file", ErrInvalid)
	}
	w := &Writer{q: q, opts: opts}
	w.attach(f)
	return startWriter(w), nil
}

// OpenWriter starts a writer of q to path. The file is created (or
// truncated, or appended to with opts.Append) when the first message
// arrives, but the path is checked now: a missing directory or a file that
// cannot be written is an error.
func OpenWriter(q *Queue, path string, opts WriterOptions) (*Writer, error) {
	if q == nil {
		return nil, fmt.Errorf("%w: writer needs a queue", ErrInvalid)
	}
	if err := checkWritable(path); err != nil {
		return nil, err
	}
	return startWriter(&Writer{q: q, path: path, opts: opts}), nil
}

func checkWritable(path string) error {
	if path == "" {
		return fmt.Errorf("%w: writer path is empty", ErrInvalid)
	}
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot write %q: directory %q: %w", path, dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("cannot write %q: %q: %w", path, dir, syscall.ENOTDIR)
	}
	if info, err := os.Stat(path); err == nil {
		if info.IsDir() {
			return fmt.Errorf("cannot write %q: %w", path, syscall.EISDIR)
		}
		if err := syscall.Access(path, 2 /* W_OK */); err != nil {
			return fmt.Errorf("cannot write %q: %w", path, err)
		}
	} else if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return fmt.Errorf("cannot create %q in %q: %w", path, dir, err)
	}
	return nil
}

func startWriter(w *Writer) *Writer {
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	w.q.acquire()
	go w.run()
	return w
}

// Count returns the number of messages written so far.
func (w *Writer) Count() uint64 { return w.count.Load() }

// Alive reports whether the writer still runs.
func (w *Writer) Alive() bool { return !isDone(w.done) }

// Done returns a channel that closes when the writer ends.
func (w *Writer) Done() <-chan struct{} { return w.done }

// Err returns how the writer ended: nil after Stop or a closed and empty
// queue, else the error. It returns nil while the writer runs.
func (w *Writer) Err() error {
	if !isDone(w.done) {
		return nil
	}
	return w.err
}

// Stop asks the writer to end and waits until it has: it finishes the
// message it holds, flushes, syncs a regular file and closes its file.
// Messages still in the queue stay there.
//
// Stop does not wait long for a pipe that takes no data: a write still
// blocked FlushInterval after Stop fails, and the writer ends with that
// error. A writer of a named pipe that no process has opened for reading
// ends without writing, leaving its messages in the queue.
func (w *Writer) Stop() {
	w.stopOnce.Do(func() {
		close(w.stop)
		w.releaseFIFOOpen()
		if f := w.current.Load(); f != nil {
			_ = f.SetWriteDeadline(time.Now().Add(FlushInterval))
		}
	})
	<-w.done
}

func (w *Writer) run() {
	defer close(w.done)
	defer w.q.release()
	log().Debug("writer started", "writer", w.opts.Name)

	w.err = w.writeMessages()
	if err := w.finish(); w.err == nil {
		w.err = err
	}

	if w.err != nil {
		log().Error("writer failed", "writer", w.opts.Name, "error", w.err)
	}
	log().Debug("writer ended", "writer", w.opts.Name, "messages", w.count.Load())
}

func (w *Writer) writeMessages() error {
	lastFlush := time.Now()
	lastSync := lastFlush
	dirty := false

	for {
		timeout := time.Duration(-1)
		if dirty {
			timeout = time.Until(lastFlush.Add(FlushInterval))
		}
		var m Message
		var err error
		if isDone(w.stop) {
			// get would keep taking messages while the queue holds any.
			err = ErrCanceled
		} else if timeout < 0 && dirty {
			err = ErrEmpty // the flush is due now
		} else {
			m, err = w.q.get(timeout, w.stop, nil, nil)
		}

		switch {
		case err == ErrEmpty:
			if err := w.flush(&lastSync); err != nil {
				return err
			}
			lastFlush, dirty = time.Now(), false
			continue
		case err == ErrCanceled || err == ErrClosed:
			return nil
		case err != nil:
			return err
		}

		if w.f == nil {
			if err := w.open(); err != nil {
				w.q.requeue(m) // keep the message for the queue's next consumer
				return err
			}
			if isDone(w.stop) {
				// Stop released the open of a named pipe that no process reads.
				w.q.requeue(m)
				return nil
			}
		}
		if err := w.write(m); err != nil {
			return fmt.Errorf("writing %s failed: %w", w.f.Name(), err)
		}
		w.count.Add(1)
		_ = w.q.TaskDone()
		dirty = true

		if w.q.Len() == 0 || time.Since(lastFlush) >= FlushInterval {
			if err := w.flush(&lastSync); err != nil {
				return err
			}
			lastFlush, dirty = time.Now(), false
		}
	}
}

// write writes a message's payload, from its spill file if it has one,
// and then removes that file.
func (w *Writer) write(m Message) error {
	if !m.Spilled() {
		_, err := w.out.Write(m.Payload)
		return err
	}
	err := writeSpilled(w.out, m)
	Discard(m)
	return err
}

func (w *Writer) open() error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if w.opts.Append {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	if info, err := os.Stat(w.path); err == nil && info.Mode()&os.ModeNamedPipe != 0 {
		return w.openFIFO()
	}
	f, err := os.OpenFile(w.path, flags, 0o666)
	if err != nil {
		return err
	}
	w.attach(f)
	return nil
}

func (w *Writer) attach(f *os.File) {
	w.f = f
	w.out = bufio.NewWriterSize(f, writeBufferSize)
	w.regular = isRegular(f)
	w.current.Store(f)
}

// flush writes the buffer out and syncs a regular file once per
// FlushInterval.
func (w *Writer) flush(lastSync *time.Time) error {
	if w.f == nil {
		return nil
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("writing %s failed: %w", w.f.Name(), err)
	}
	if w.regular && time.Since(*lastSync) >= FlushInterval {
		*lastSync = time.Now()
		if err := w.f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("syncing %s failed: %w", w.f.Name(), err)
		}
	}
	return nil
}

// finish flushes, syncs and closes the file at the end.
func (w *Writer) finish() error {
	if w.f == nil {
		return nil
	}
	err := w.out.Flush()
	if w.regular {
		if syncErr := w.f.Sync(); err == nil && syncErr != nil && !errors.Is(syncErr, syscall.EINVAL) {
			err = syncErr
		}
	}
	if closeErr := w.f.Close(); err == nil {
		err = closeErr
	}
	return err
}
