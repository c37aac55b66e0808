package core

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

// A spilled message keeps a large payload in a file instead of memory: its
// Payload holds the file's path and FlagSpilled is set. Each spilled
// message owns its file. Whoever drops such a message removes the file
// with Discard, and whoever consumes it removes the file when done.
// Fan-out gives each destination its own hard link to the same data, so
// the data is written once and its disk space is freed when the last
// owner removes its link.

// DefaultWrapThreshold is the line length, in bytes, from which a reader
// spills wrapped lines when no threshold is given.
const DefaultWrapThreshold = 16384

// spillPrefix starts the name of every spill file.
const spillPrefix = "queuelink-spill-"

// WrapWhen selects which lines a reader wraps.
type WrapWhen int

// Wrap rules. Their values match the QL_WRAP_* constants of the C ABI.
const (
	// WrapNever delivers every line as a plain message.
	WrapNever WrapWhen = 0
	// WrapAuto wraps and spills lines longer than the threshold.
	WrapAuto WrapWhen = 1
	// WrapAlways wraps every line and spills those at least as long as
	// the threshold.
	WrapAlways WrapWhen = 2
)

// spills reports whether a line of size bytes goes to a spill file.
func (w WrapWhen) spills(size, threshold int64) bool {
	switch w {
	case WrapAuto:
		return size > threshold
	case WrapAlways:
		return size >= threshold
	}
	return false
}

// wraps reports whether a line of size bytes is delivered wrapped.
func (w WrapWhen) wraps(size, threshold int64) bool {
	return w == WrapAlways || (w == WrapAuto && size > threshold)
}

// Spilled reports whether the message's payload is in a spill file.
func (m *Message) Spilled() bool { return m.Flags&FlagSpilled != 0 }

// SpillPath returns the path of the message's spill file, or "".
func (m *Message) SpillPath() string {
	if !m.Spilled() {
		return ""
	}
	return string(m.Payload)
}

// Discard releases what a dropped message owns: it removes the spill file
// of a spilled message.
func Discard(m Message) {
	if !m.Spilled() {
		return
	}
	if err := os.Remove(m.SpillPath()); err != nil && !os.IsNotExist(err) {
		log().Warn("removing a spill file failed", "path", m.SpillPath(), "error", err)
	}
}

// linkSeq makes the names of hard links unique within the process.
var linkSeq atomic.Uint64

// share returns m for one more owner: a spilled message gets a new hard
// link to its file (or a copy where the file system has no hard links);
// other messages are returned as they are, since payloads are never
// modified.
func share(m Message) (Message, error) {
	if !m.Spilled() {
		return m, nil
	}
	src := m.SpillPath()
	dir := filepath.Dir(src)
	for {
		// A fresh name in the same directory, so names do not grow
		// with every hop and the hard link stays on the same file system.
		name := spillPrefix + "link-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(linkSeq.Add(1), 10)
		dst := filepath.Join(dir, name)
		err := os.Link(src, dst)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			err = copyFile(src, dst)
		}
		if err != nil {
			return Message{}, fmt.Errorf("sharing spill file %s failed: %w", src, err)
		}
		m.Payload = []byte(dst)
		return m, nil
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

// spillFile is a spill file being written by a reader.
type spillFile struct {
	f    *os.File
	size int64
}

// createSpill creates a new spill file in dir, or in the system's
// temporary directory when dir is "".
func createSpill(dir string) (*spillFile, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, spillPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("creating a spill file in %s failed: %w", dir, err)
	}
	return &spillFile{f: f}, nil
}

func (s *spillFile) write(p []byte) error {
	n, err := s.f.Write(p)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing spill file %s failed: %w", s.f.Name(), err)
	}
	return nil
}

// finish closes the file and returns its path.
func (s *spillFile) finish() (string, error) {
	if err := s.f.Close(); err != nil {
		os.Remove(s.f.Name())
		return "", fmt.Errorf("closing spill file %s failed: %w", s.f.Name(), err)
	}
	return s.f.Name(), nil
}

// abort closes and removes the file.
func (s *spillFile) abort() {
	s.f.Close()
	os.Remove(s.f.Name())
}

// SpillFiles returns the spill files in dir, or in the system's temporary
// directory when dir is "", for tests and diagnostics.
func SpillFiles(dir string) ([]string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Glob(filepath.Join(dir, spillPrefix+"*"))
}

// writeSpilled copies a spilled message's file to out.
func writeSpilled(out io.Writer, m Message) error {
	f, err := os.Open(m.SpillPath())
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(out, f)
	return err
}
