package core

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// readLines frames the file into lines until end of file, Stop or an
// error, then delivers the bytes after the last '\n' as a last line.
func (r *Reader) readLines() error {
	err := r.frameLines()
	if flushErr := r.flush(); err == nil {
		err = flushErr
	}
	return err
}

// frameLines is readLines without the final flush.
func (r *Reader) frameLines() error {
	buf := make([]byte, r.opts.bufferSize)
	line := lineBuilder{r: r}
	defer line.abort()
	start, end := 0, 0

	for {
		for {
			i := bytes.IndexByte(buf[start:end], '\n')
			if i < 0 {
				break
			}
			if err := line.finish(buf[start : start+i+1]); err != nil {
				return err
			}
			start += i + 1
		}

		// Make room: move the partial line to the front, or hand it to
		// the builder when it fills the whole buffer.
		if start == 0 && end == len(buf) {
			if err := line.add(buf[:end]); err != nil {
				return err
			}
			end = 0
		} else if start > 0 {
			end = copy(buf, buf[start:end])
			start = 0
		}

		partial := line.size > 0 || end > start
		if r.opts.PartialLineTimeout > 0 {
			r.armPartialLineDeadline(partial)
		}
		if isDone(r.stop) {
			break
		}
		if err := r.flush(); err != nil {
			return err
		}
		n, err := r.f.Read(buf[end:])
		end += n
		if err == nil || n > 0 {
			continue // frame what arrived; an error comes back on the next read
		}
		if err == io.EOF || (errors.Is(err, os.ErrDeadlineExceeded) && isDone(r.stop)) {
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && partial {
			// No data for PartialLineTimeout: deliver the partial line.
			if err := line.finish(buf[start:end]); err != nil {
				return err
			}
			start, end = 0, 0
			continue
		}
		if line.size > 0 || end > start {
			if finishErr := line.finish(buf[start:end]); finishErr != nil {
				return finishErr
			}
		}
		return fmt.Errorf("reading %s failed: %w", r.f.Name(), err)
	}

	if line.size > 0 || end > start {
		return line.finish(buf[start:end])
	}
	return nil
}

// lineBuilder assembles a line that spans several reads. It keeps the
// line in memory until the reader's wrap rule says that the line spills;
// from then on the line goes to a spill file as it arrives, so a spilled
// line is never held in memory whole.
type lineBuilder struct {
	r     *Reader
	head  []byte     // the line so far, while in memory
	spill *spillFile // the line so far, once spilled
	size  int64      // bytes of the line so far
}

// add appends a part of the current line.
func (b *lineBuilder) add(part []byte) error {
	if err := b.spillIfNeeded(b.size + int64(len(part))); err != nil {
		return err
	}
	b.size += int64(len(part))
	if b.spill != nil {
		return b.spill.write(part)
	}
	b.head = append(b.head, part...)
	return nil
}

// finish appends the last part of the line and delivers the line.
func (b *lineBuilder) finish(last []byte) error {
	size := b.size + int64(len(last))
	if err := b.spillIfNeeded(size); err != nil {
		return err
	}
	opts := &b.r.opts
	m := Message{Kind: opts.Kind}
	if opts.Wrap.wraps(size, opts.WrapThreshold) {
		m.Flags |= FlagWrapped
	}

	if b.spill != nil {
		if err := b.spill.write(last); err != nil {
			return err
		}
		path, err := b.spill.finish()
		b.spill = nil
		if err != nil {
			return err
		}
		m.Flags |= FlagSpilled
		m.Payload = []byte(path)
	} else {
		m.Payload = make([]byte, len(b.head)+len(last))
		copy(m.Payload, b.head)
		copy(m.Payload[len(b.head):], last)
	}

	b.head, b.size = nil, 0
	return b.r.deliver(m)
}

// spillIfNeeded moves the line to a spill file once it reaches size bytes
// and the wrap rule spills lines of that size.
func (b *lineBuilder) spillIfNeeded(size int64) error {
	opts := &b.r.opts
	if b.spill != nil || !opts.Wrap.spills(size, opts.WrapThreshold) {
		return nil
	}
	spill, err := createSpill(opts.SpillDir)
	if err != nil {
		return err
	}
	b.spill = spill
	if err := spill.write(b.head); err != nil {
		return err
	}
	b.head = nil
	return nil
}

// abort removes the spill file of a line that will not be delivered.
func (b *lineBuilder) abort() {
	if b.spill != nil {
		b.spill.abort()
		b.spill = nil
	}
}

// armPartialLineDeadline sets the read deadline for the next read: the
// partial line timeout while a partial line waits, else none. Stop sets
// its own deadline after closing stop, and readLines checks stop after
// this call, so a deadline set here never delays Stop.
func (r *Reader) armPartialLineDeadline(partial bool) {
	deadline := time.Time{}
	if partial {
		deadline = time.Now().Add(r.opts.PartialLineTimeout)
	}
	_ = r.f.SetReadDeadline(deadline)
}
