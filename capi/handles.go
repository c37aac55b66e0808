package main

/*
#include "capi.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"unsafe"

	pointer "github.com/mattn/go-pointer"

	"github.com/queuelink/queuelink/core"
)

// handleType is the type of object behind a handle.
type handleType uint8

const (
	queueHandle handleType = iota + 1
	linkHandle
	readerHandle
	writerHandle
)

func (t handleType) String() string {
	switch t {
	case queueHandle:
		return "queue"
	case linkHandle:
		return "link"
	case readerHandle:
		return "reader"
	case writerHandle:
		return "writer"
	}
	return "unknown"
}

// handle is the object behind a C handle: a go-pointer token maps to one.
type handle struct {
	typ   handleType
	freed atomic.Bool

	queue  *core.Queue
	owner  bool // freeing this queue handle closes the queue
	link   *core.Link
	reader *core.Reader
	writer *core.Writer
}

// Every handle is a go-pointer token: an address from malloc that the
// token table maps to a *handle. Once a token is unreferenced, malloc may
// hand its address out again for a new handle, so a stale handle could
// reach a new object. To prevent that, a freed handle's token stays
// allocated and in the table, marked freed, until QL_CAPI_QUARANTINE_SIZE
// later handles have been freed; only then is it unreferenced.
var quarantine struct {
	sync.Mutex     // guards next and the C-side slots
	next       int // slot the next freed token goes to
}

// newHandle registers h and returns its token.
func newHandle(h *handle) unsafe.Pointer {
	return pointer.Save(h)
}

// lookup returns the live handle of type want behind token, or an error
// that says what is wrong with it.
func lookup(token unsafe.Pointer, want handleType) (*handle, error) {
	if token == nil {
		return nil, errorf(statusHandle, "%s handle is NULL", want)
	}
	h, ok := pointer.Restore(token).(*handle)
	if !ok {
		return nil, errorf(statusHandle, "%s handle %p is not a live handle of this library", want, token)
	}
	if h.typ != want {
		return nil, errorf(statusHandle, "handle %p is a %s handle, expected a %s handle", token, h.typ, want)
	}
	if h.freed.Load() {
		return nil, errorf(statusHandle, "%s handle %p was already freed", want, token)
	}
	return h, nil
}

// release marks the handle behind token freed, exactly once, and keeps it
// in the quarantine. It returns the handle for the caller to tear down.
func release(token unsafe.Pointer, want handleType) (*handle, error) {
	h, err := lookup(token, want)
	if err != nil {
		return nil, err
	}
	if !h.freed.CompareAndSwap(false, true) {
		return nil, errorf(statusHandle, "%s handle %p was already freed", want, token)
	}

	quarantine.Lock()
	defer quarantine.Unlock()
	old := C.ql_capi_quarantine_swap(C.size_t(quarantine.next), token)
	quarantine.next = (quarantine.next + 1) % C.QL_CAPI_QUARANTINE_SIZE
	if old != nil {
		pointer.Unref(old)
	}
	return h, nil
}
