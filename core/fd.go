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
// The returned file is in non-blocking mode, so the Go runtime waits on it
// without blocking a thread and a deadline interrupts a blocked read or
// write. A pipe or character device is opened anew through /proc/self/fd,
// which gives an independent open file description. A socket is
// duplicated and switched to non-blocking mode, which the socket's other
// descriptors share. Other descriptors, such as regular files, are
// duplicated and share their file offset with fd.
func OpenDescriptor(fd int, write bool) (*os.File, error) {
	if fd < 0 {
		return nil, fmt.Errorf("%w: file descriptor %d is negative", ErrInvalid, fd)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("file descriptor %d is not open: %w", fd, err)
	}

	name := "fd " + strconv.Itoa(fd)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFIFO, syscall.S_IFCHR:
		flags := syscall.O_RDONLY
		if write {
			flags = syscall.O_WRONLY
		}
		// O_NONBLOCK also keeps the open of a pipe's write end from
		// waiting for a reader.
		reopened, err := syscall.Open("/proc/self/fd/"+strconv.Itoa(fd), flags|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			return os.NewFile(uintptr(reopened), name), nil
		}
	case syscall.S_IFSOCK:
		dup, err := dupCloexec(fd)
		if err != nil {
			return nil, fmt.Errorf("duplicating file descriptor %d failed: %w", fd, err)
		}
		if err := syscall.SetNonblock(dup, true); err != nil {
			syscall.Close(dup)
			return nil, fmt.Errorf("making socket descriptor %d non-blocking failed: %w", fd, err)
		}
		return os.NewFile(uintptr(dup), name), nil
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
