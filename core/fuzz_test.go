package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// readFileWith runs a reader with opts over data stored in a file and
// returns the messages it put, with spilled payloads read back.
func readFileWith(t *testing.T, data []byte, opts ReaderOptions) ([][]byte, []Flags, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "input")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.SpillDir = dir
	q, err := NewQueue(FIFO, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(q, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	<-r.Done()

	var payloads [][]byte
	var flags []Flags
	for q.Len() > 0 {
		m, _ := q.Get(0)
		payload := m.Payload
		if m.Spilled() {
			payload, err = os.ReadFile(m.SpillPath())
			if err != nil {
				t.Fatal(err)
			}
			Discard(m)
		}
		payloads = append(payloads, payload)
		flags = append(flags, m.Flags)
	}
	if left, _ := SpillFiles(dir); len(left) != 0 {
		t.Fatalf("spill files left after every message was discarded: %v", left)
	}
	return payloads, flags, r.Err()
}

func FuzzLineFraming(f *testing.F) {
	seeds := []struct {
		data      string
		buffer    uint8
		wrap      uint8
		threshold uint8
	}{
		{"", 1, 0, 0},
		{"\n", 1, 0, 0},
		{"a\nb\nc", 2, 0, 0},
		{"no newline at all", 4, 0, 0},
		{"\n\n\n", 1, 1, 1},
		{"é\nñ€\n", 3, 2, 2},
		{"line longer than the buffer\nshort\n", 5, 1, 8},
		{"exactly8\n", 9, 2, 9},
		{"a\x00b\nc\x00\n", 2, 0, 0},
		{"\r\n\r\n", 1, 0, 0},
		{string([]byte{0xff, 0xfe, '\n', 0x80}), 2, 1, 1},
	}
	for _, s := range seeds {
		f.Add([]byte(s.data), s.buffer, s.wrap, s.threshold)
	}

	f.Fuzz(func(t *testing.T, data []byte, buffer, wrap, threshold uint8) {
		opts := ReaderOptions{
			Kind:          KindBytes,
			Wrap:          WrapWhen(wrap % 3),
			WrapThreshold: int64(threshold%32) + 1,
			bufferSize:    int(buffer%32) + 1,
		}
		payloads, flags, err := readFileWith(t, data, opts)
		if err != nil {
			t.Fatalf("reader failed: %v", err)
		}

		// The lines put back together are the input, byte for byte.
		if joined := bytes.Join(payloads, nil); !bytes.Equal(joined, data) {
			t.Fatalf("lines %q do not join into the input %q", payloads, data)
		}
		for i, p := range payloads {
			last := i == len(payloads)-1
			if len(p) == 0 {
				t.Fatalf("line %d is empty", i)
			}
			if n := bytes.Count(p, []byte{'\n'}); n > 1 || (n == 1 && p[len(p)-1] != '\n') {
				t.Fatalf("line %d %q is not one line", i, p)
			}
			if !last && p[len(p)-1] != '\n' {
				t.Fatalf("line %d %q lacks its newline", i, p)
			}
			size := int64(len(p))
			if want := opts.Wrap.wraps(size, opts.WrapThreshold); (flags[i]&FlagWrapped != 0) != want {
				t.Fatalf("line %d of %d bytes: wrapped is %v, want %v", i, size, !want, want)
			}
			if want := opts.Wrap.spills(size, opts.WrapThreshold); (flags[i]&FlagSpilled != 0) != want {
				t.Fatalf("line %d of %d bytes: spilled is %v, want %v", i, size, !want, want)
			}
		}
	})
}

// encodeFrames writes payloads as a multiprocessing Connection sends them,
// in the long form where long is set.
func encodeFrames(payloads [][]byte, long bool) []byte {
	var out bytes.Buffer
	for _, p := range payloads {
		if long {
			binary.Write(&out, binary.BigEndian, int32(-1))
			binary.Write(&out, binary.BigEndian, uint64(len(p)))
		} else {
			binary.Write(&out, binary.BigEndian, int32(len(p)))
		}
		out.Write(p)
	}
	return out.Bytes()
}

func FuzzConnectionFraming(f *testing.F) {
	f.Add([]byte(""), uint8(1), false)
	f.Add([]byte("one|two||three"), uint8(3), false)
	f.Add([]byte("long|form"), uint8(2), true)
	f.Add([]byte("\x00\x00\x00\x05abc"), uint8(4), false) // cut inside a frame
	f.Add([]byte("\xff\xff\xff\xff\x00\x00"), uint8(2), false)
	f.Add([]byte("\x80\x00\x00\x00"), uint8(1), false) // a negative length
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), uint8(5), false)

	f.Fuzz(func(t *testing.T, data []byte, buffer uint8, long bool) {
		opts := ReaderOptions{Kind: KindBytes, Framing: FrameConnection, bufferSize: int(buffer%32) + 16}

		// Raw bytes: the reader ends cleanly or with ErrMalformed, never
		// otherwise, and never delivers more bytes than it was given.
		payloads, _, err := readFileWith(t, data, opts)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("raw input %q: unexpected error %v", data, err)
		}
		if total := len(bytes.Join(payloads, nil)); total > len(data) {
			t.Fatalf("raw input of %d bytes gave %d payload bytes", len(data), total)
		}

		// The input as payloads separated by '|', framed properly, comes
		// back exactly.
		want := bytes.Split(data, []byte{'|'})
		if len(data) == 0 {
			want = nil
		}
		got, _, err := readFileWith(t, encodeFrames(want, long), opts)
		if err != nil {
			t.Fatalf("framed input: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d frames, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("frame %d is %q, want %q", i, got[i], want[i])
			}
		}
	})
}
