package main

/*
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"syscall"
	"time"
	"unsafe"

	"github.com/queuelink/queuelink/core"
)

// Status codes; the values are those of QL_OK and QL_ERR_* in
// include/queuelink.h and never change.
const (
	statusOK       = 0
	statusInvalid  = 1
	statusHandle   = 2
	statusClosed   = 3
	statusEmpty    = 4
	statusFull     = 5
	statusTimeout  = 6
	statusExists   = 7
	statusNotFound = 8
	statusIO       = 9
	statusState    = 10
	statusInternal = 11
	statusSpace    = 12

	// statusLast is the highest status code.
	statusLast = statusSpace
)

// statusName returns the name ql_strerror gives a status code.
func statusName(status int) string {
	return C.GoString(C.ql_capi_status_name(C.int(status)))
}

// apiError is an error with the status it maps to.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an engine error to a status code.
func statusOf(err error) int {
	var api *apiError
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case err == nil:
		return statusOK
	case errors.As(err, &api):
		return api.status
	case errors.Is(err, core.ErrInvalid):
		return statusInvalid
	case errors.Is(err, core.ErrClosed):
		return statusClosed
	case errors.Is(err, core.ErrEmpty):
		return statusEmpty
	case errors.Is(err, core.ErrFull):
		return statusFull
	case errors.Is(err, core.ErrTimeout):
		return statusTimeout
	case errors.Is(err, core.ErrExists):
		return statusExists
	case errors.Is(err, core.ErrNotFound):
		return statusNotFound
	case errors.Is(err, core.ErrNotStarted), errors.Is(err, core.ErrTaskDone):
		return statusState
	case errors.Is(err, core.ErrTooLarge):
		return statusSpace
	case errors.Is(err, core.ErrMalformed), errors.As(err, &pathErr), errors.As(err, &errno):
		return statusIO
	}
	return statusInternal
}

// fail records err as the calling thread's last error message and returns
// its status.
func fail(err error) C.int {
	msg := err.Error()
	if len(msg) == 0 {
		C.ql_capi_set_errmsg(nil, 0)
	} else {
		C.ql_capi_set_errmsg((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
	}
	return C.int(statusOf(err))
}

// result returns QL_OK for a nil err, else fails with it.
func result(err error) C.int {
	if err == nil {
		return statusOK
	}
	return fail(err)
}

// recoverPanic turns a panic in an exported function into
// QL_ERR_INTERNAL, so that no Go panic crosses into C. Every export defers
// it with a pointer to its named status result.
func recoverPanic(status *C.int) {
	if r := recover(); r != nil {
		*status = fail(errorf(statusInternal, "internal error (please report): %v\n%s", r, debug.Stack()))
	}
}

// duration converts a timeout in microseconds to the engine's convention:
// negative blocks, zero does not. Timeouts too large to represent block.
func duration(timeoutUS C.int64_t) time.Duration {
	us := int64(timeoutUS)
	if us < 0 || us > int64(time.Duration(1<<63-1)/time.Microsecond) {
		return -1
	}
	return time.Duration(us) * time.Microsecond
}
