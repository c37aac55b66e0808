package core

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// OpenDescriptor returns a new *os.File for the open descriptor fd that
// the caller owns and closes, so the engine never closes a descriptor it
// did not open. For reading set write to false, for writing true.
//
// A pipe or character device is opened anew through /proc/self/fd, which
// gives an independent open file description that the Go runtime can wait
// on without blocking a thread, so a blocked read or write can be
// interrupted with a deadline. Other descriptors (regular files, sockets)
// are duplicated and share their file offset with fd.
func OpenDescriptor(fd int, write bool) (*os.File, error) {
	if fd < 0 {
		return nil, fmt.Errorf("%w: file descriptor %d is negative", ErrInvalid, fd)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("file descriptor %d is not open: %w", fd, err)
	}

	name := "fd " + strconv.Itoa(fd)
	kind := st.Mode & syscall.S_IFMT
	if kind == syscall.S_IFIFO || kind == syscall.S_IFCHR {
		flags := os.O_RDONLY
		if write {
			flags = os.O_WRONLY
		}
		// O_NONBLOCK keeps the open of a pipe's write end from waiting for
		// a reader; the runtime then uses the poller for every transfer.
		f, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(fd), flags|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			return f, nil
		}
	}

	dup, err := dupCloexec(fd)
	if err != nil {
		return nil, fmt.Errorf("duplicating file descriptor %d failed: %w", fd, err)
	}
	return os.NewFile(uintptr(dup), name), nil
}

func dupCloexec(fd int) (int, error) {
	for {
		dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(dup), nil
	}
}

// isRegular reports whether f is a regular file, which reads never block
// on and which Sync writes to disk.
func isRegular(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode().IsRegular()
}
