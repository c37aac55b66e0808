// Command capi is the C ABI of QueueLink, built with
// `go build -buildmode=c-shared` into libqueuelink.so. The contract is
// include/queuelink.h; this package converts between C and Go values,
// checks handles and maps errors to status codes, and holds no routing
// logic.
//
// Every exported function returns a status code through a named result
// and defers recoverPanic, so no Go panic crosses into C.
package main

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"math"
	"unsafe"

	"github.com/queuelink/queuelink/core"
)

// Version of the library; QL_VERSION_NUMBER in include/queuelink.h.
const (
	versionMajor = 0
	versionMinor = 2
	versionPatch = 0
)

func main() {}

//export ql_version
func ql_version() C.int {
	return C.int(versionMajor*10000 + versionMinor*100 + versionPatch)
}

//export ql_strerror
func ql_strerror(status C.int) *C.char {
	return (*C.char)(unsafe.Pointer(C.ql_capi_status_name(status)))
}

//export ql_errmsg
func ql_errmsg() *C.char {
	return C.ql_capi_errmsg()
}

//export ql_free
func ql_free(ptr unsafe.Pointer) {
	C.free(ptr)
}

//export ql_msg_free
func ql_msg_free(msg *C.ql_msg) {
	if msg == nil {
		return
	}
	if msg.flags&msgSpilled != 0 && msg.data != nil && msg.len > 0 {
		path := C.GoStringN((*C.char)(msg.data), C.int(min(uint64(msg.len), math.MaxInt32)))
		core.Discard(core.Message{Flags: core.FlagSpilled, Payload: []byte(path)})
	}
	if msg.owned != 0 && msg.data != nil {
		C.free(msg.data)
	}
	*msg = C.ql_msg{}
}
