package core

import (
	"os"
	"syscall"
	"time"
)

// fifoWakeInterval is how often Stop tries to release a reader that is
// still waiting in open() for a named pipe's writer.
const fifoWakeInterval = 5 * time.Millisecond

// openFIFO opens the reader's named pipe, waiting for a writer as open()
// does, and sets f. Stop releases the wait with waitOpened.
func (r *Reader) openFIFO() error {
	fd, err := syscall.Open(r.fifo, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(r.fifo, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: r.fifo, Err: err}
	}
	// Non-blocking mode lets the runtime's poller wait for data, so a
	// deadline can interrupt a read.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return &os.PathError{Op: "open", Path: r.fifo, Err: err}
	}
	r.f = os.NewFile(uintptr(fd), r.fifo)
	close(r.opened)
	return nil
}

// waitOpened waits until the reader's file is open, releasing an open()
// that waits for a named pipe's writer by briefly opening the pipe for
// writing. It reports false when the reader ended without opening a file.
func (r *Reader) waitOpened() bool {
	for {
		select {
		case <-r.opened:
			return true
		case <-r.done:
			return false
		default:
		}
		// Fails with ENXIO until the reader's open() is waiting; try again.
		if fd, err := syscall.Open(r.fifo, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
			syscall.Close(fd)
		}
		select {
		case <-r.opened:
			return true
		case <-r.done:
			return false
		case <-time.After(fifoWakeInterval):
		}
	}
}

// openFIFO opens the writer's named pipe for writing, which waits until a
// process opens it for reading; Stop releases the wait with
// releaseFIFOOpen.
func (w *Writer) openFIFO() error {
	w.fifoOpening.Store(true)
	defer w.fifoOpening.Store(false)
	if isDone(w.stop) {
		return nil
	}
	fd, err := syscall.Open(w.path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(w.path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: w.path, Err: err}
	}
	// Non-blocking mode lets the runtime's poller wait for room, so a
	// deadline can interrupt a write.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return &os.PathError{Op: "open", Path: w.path, Err: err}
	}
	w.attach(os.NewFile(uintptr(fd), w.path))
	return nil
}

// releaseFIFOOpen ends a wait of the writer in openFIFO by briefly opening
// the pipe for reading, until the writer is no longer opening it.
func (w *Writer) releaseFIFOOpen() {
	for w.fifoOpening.Load() && !isDone(w.done) {
		if fd, err := syscall.Open(w.path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
			syscall.Close(fd)
		}
		select {
		case <-w.done:
		case <-time.After(fifoWakeInterval):
		}
	}
}
