package core

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// A Python multiprocessing Connection sends each message as a frame: a
// 4-byte big-endian signed length, then the payload. A payload longer
// than 0x7fffffff bytes has the length -1 followed by an 8-byte big-endian
// unsigned length instead.
const (
	frameHeaderSize     = 4
	frameLongHeaderSize = 8
	frameLongMarker     = -1
)

// frameChunk bounds how much of a frame is allocated before its bytes
// arrive, so a corrupt length cannot allocate more than the stream holds.
const frameChunk = 1 << 20

// stopGrace is how long a Reader stopped in the middle of a frame keeps
// reading to finish it, so the stream is left at a frame boundary.
const stopGrace = time.Second

// readFrames puts one message per Connection frame until end of file,
// Stop or an error. End of file between two frames is a clean end; inside
// a frame it is an error.
func (r *Reader) readFrames() error {
	src := &frameSource{r: r}
	in := bufio.NewReaderSize(src, r.opts.bufferSize)
	for {
		if isDone(r.stop) {
			return nil
		}
		src.midFrame, src.graced = false, false
		payload, err := r.readFrame(in, src)
		if err == io.EOF || (errors.Is(err, os.ErrDeadlineExceeded) && isDone(r.stop) && payload == nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading a Connection frame from %s failed: %w", r.f.Name(), err)
		}
		if err := r.put(Message{Kind: r.opts.Kind, Payload: payload}); err != nil {
			return err
		}
	}
}

// readFrame reads one frame. It returns io.EOF only when the stream ends
// before the frame's first byte.
func (r *Reader) readFrame(in *bufio.Reader, src *frameSource) ([]byte, error) {
	var header [frameLongHeaderSize]byte
	first, err := in.ReadByte()
	if err != nil {
		return nil, err
	}
	src.midFrame = true
	header[0] = first
	if _, err := io.ReadFull(in, header[1:frameHeaderSize]); err != nil {
		return []byte{}, fmt.Errorf("%w: the stream ended inside a frame header: %w", ErrMalformed, err)
	}

	size := int64(int32(binary.BigEndian.Uint32(header[:frameHeaderSize])))
	if size == frameLongMarker {
		if _, err := io.ReadFull(in, header[:frameLongHeaderSize]); err != nil {
			return []byte{}, fmt.Errorf("%w: the stream ended inside a long frame header: %w", ErrMalformed, err)
		}
		long := binary.BigEndian.Uint64(header[:frameLongHeaderSize])
		if long > 1<<62 {
			return []byte{}, fmt.Errorf("%w: frame length %d is invalid", ErrMalformed, long)
		}
		size = int64(long)
	} else if size < 0 {
		return []byte{}, fmt.Errorf("%w: frame length %d is invalid", ErrMalformed, size)
	}

	payload := make([]byte, 0, min(size, frameChunk))
	for int64(len(payload)) < size {
		want := min(size-int64(len(payload)), frameChunk)
		if int64(cap(payload)-len(payload)) < want {
			payload = append(payload, make([]byte, want)...)[:len(payload)]
		}
		got, err := io.ReadFull(in, payload[len(payload):int64(len(payload))+want])
		payload = payload[:len(payload)+got]
		if err != nil {
			return []byte{}, fmt.Errorf("%w: the stream ended after %d of a frame's %d bytes: %w", ErrMalformed, len(payload), size, err)
		}
	}
	return payload, nil
}

// frameSource reads the Reader's file for readFrames. When Stop
// interrupts a read in the middle of a frame, it allows stopGrace more for
// the rest of the frame, so the stream is left at a frame boundary.
type frameSource struct {
	r        *Reader
	midFrame bool // a frame's first byte has been read, its last not yet
	graced   bool // the grace period of this frame has started
}

func (s *frameSource) Read(p []byte) (int, error) {
	n, err := s.r.f.Read(p)
	if n == 0 && s.midFrame && !s.graced && errors.Is(err, os.ErrDeadlineExceeded) && isDone(s.r.stop) {
		s.graced = true
		_ = s.r.f.SetReadDeadline(time.Now().Add(stopGrace))
		return s.r.f.Read(p)
	}
	return n, err
}
