package main

/*
#include "capi.h"
*/
import "C"

import (
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/queuelink/queuelink/core"
)

// Write modes of ql_writer_new_path; QL_WRITE_* in include/queuelink.h.
const (
	writeTruncate = 0
	writeAppend   = 1
)

func readerKind(kind C.int) (core.Kind, error) {
	k := core.Kind(kind)
	if kind != C.int(core.KindText) && kind != C.int(core.KindBytes) {
		return 0, errorf(statusInvalid, "reader kind %d is not QL_KIND_TEXT (1) or QL_KIND_BYTES (2)", int(kind))
	}
	return k, nil
}

// waitDone waits at most timeout for done to close.
func waitDone(done <-chan struct{}, timeout time.Duration) bool {
	if timeout < 0 {
		<-done
		return true
	}
	if timeout == 0 {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// Framings and wrap rules; QL_FRAME_* and QL_WRAP_* in
// include/queuelink.h.
const (
	frameLines      = C.int32_t(core.FrameLines)
	frameConnection = C.int32_t(core.FrameConnection)
	wrapNever       = C.int32_t(core.WrapNever)
	wrapAuto        = C.int32_t(core.WrapAuto)
	wrapAlways      = C.int32_t(core.WrapAlways)
)

//export ql_reader_options_init
func ql_reader_options_init(opts *C.ql_reader_options) (status C.int) {
	defer recoverPanic(&status)
	if opts == nil {
		return fail(errorf(statusInvalid, "ql_reader_options_init: opts is NULL"))
	}
	*opts = C.ql_reader_options{kind: C.int32_t(core.KindText), framing: frameLines, wrap: wrapNever}
	return statusOK
}

// readerOptions converts C reader options, NULL meaning the defaults.
func readerOptions(opts *C.ql_reader_options, name string) (core.ReaderOptions, error) {
	out := core.ReaderOptions{Kind: core.KindText, Name: name}
	if opts == nil {
		return out, nil
	}
	out.Kind = core.Kind(opts.kind)
	out.Framing = core.Framing(opts.framing)
	out.Wrap = core.WrapWhen(opts.wrap)
	out.WrapThreshold = int64(opts.wrap_threshold)
	if opts.kind < 0 || opts.kind > math.MaxUint8 {
		return out, errorf(statusInvalid, "reader kind %d is not a QL_KIND_* value", int32(opts.kind))
	}
	if opts.partial_line_us < 0 {
		return out, errorf(statusInvalid, "partial_line_us %d is negative; pass 0 to wait for the newline", int64(opts.partial_line_us))
	}
	out.PartialLineTimeout = duration(opts.partial_line_us)
	if opts.spill_dir != nil {
		out.SpillDir = C.GoString(opts.spill_dir)
	}
	if opts.name != nil {
		out.Name = C.GoString(opts.name)
	}
	return out, nil
}

//export ql_reader_open_fd
func ql_reader_open_fd(q unsafe.Pointer, fd C.int, opts *C.ql_reader_options, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_reader_open_fd: out is NULL"))
	}
	options, err := readerOptions(opts, "fd "+strconv.Itoa(int(fd)))
	if err != nil {
		return fail(err)
	}
	f, err := core.OpenDescriptor(int(fd), false)
	if err != nil {
		return fail(err)
	}
	r, err := core.NewReader(queue, f, options)
	if err != nil {
		f.Close()
		return fail(err)
	}
	*out = newHandle(&handle{typ: readerHandle, reader: r})
	return statusOK
}

//export ql_reader_open_path
func ql_reader_open_path(q unsafe.Pointer, path *C.char, opts *C.ql_reader_options, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if path == nil || out == nil {
		return fail(errorf(statusInvalid, "ql_reader_open_path: path and out must not be NULL"))
	}
	name := C.GoString(path)
	options, err := readerOptions(opts, name)
	if err != nil {
		return fail(err)
	}
	r, err := core.OpenReader(queue, name, options)
	if err != nil {
		return fail(err)
	}
	*out = newHandle(&handle{typ: readerHandle, reader: r})
	return statusOK
}

//export ql_reader_new_fd
func ql_reader_new_fd(q unsafe.Pointer, fd C.int, kind C.int, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	k, err := readerKind(kind)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_reader_new_fd: out is NULL"))
	}
	f, err := core.OpenDescriptor(int(fd), false)
	if err != nil {
		return fail(err)
	}
	r, err := core.NewReader(queue, f, core.ReaderOptions{Kind: k, Name: f.Name()})
	if err != nil {
		f.Close()
		return fail(err)
	}
	*out = newHandle(&handle{typ: readerHandle, reader: r})
	return statusOK
}

//export ql_reader_new_path
func ql_reader_new_path(q unsafe.Pointer, path *C.char, kind C.int, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	k, err := readerKind(kind)
	if err != nil {
		return fail(err)
	}
	if path == nil || out == nil {
		return fail(errorf(statusInvalid, "ql_reader_new_path: path and out must not be NULL"))
	}
	name := C.GoString(path)
	r, err := core.OpenReader(queue, name, core.ReaderOptions{Kind: k, Name: name})
	if err != nil {
		return fail(err)
	}
	*out = newHandle(&handle{typ: readerHandle, reader: r})
	return statusOK
}

//export ql_reader_free
func ql_reader_free(r unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	if r == nil {
		return statusOK
	}
	h, err := release(r, readerHandle)
	if err != nil {
		return fail(err)
	}
	h.reader.Stop()
	return statusOK
}

//export ql_reader_stop
func ql_reader_stop(r unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	h, err := lookup(r, readerHandle)
	if err != nil {
		return fail(err)
	}
	h.reader.Stop()
	return statusOK
}

//export ql_reader_wait
func ql_reader_wait(r unsafe.Pointer, timeoutUS C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	h, err := lookup(r, readerHandle)
	if err != nil {
		return fail(err)
	}
	if !waitDone(h.reader.Done(), duration(timeoutUS)) {
		return fail(errorf(statusTimeout, "reader is still running after %d µs", int64(timeoutUS)))
	}
	return result(h.reader.Err())
}

//export ql_reader_is_alive
func ql_reader_is_alive(r unsafe.Pointer, out *C.int) (status C.int) {
	defer recoverPanic(&status)
	h, err := lookup(r, readerHandle)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_reader_is_alive: out is NULL"))
	}
	*out = boolInt(h.reader.Alive())
	return statusOK
}

//export ql_reader_count
func ql_reader_count(r unsafe.Pointer, out *C.uint64_t) (status C.int) {
	defer recoverPanic(&status)
	h, err := lookup(r, readerHandle)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_reader_count: out is NULL"))
	}
	*out = C.uint64_t(h.reader.Count())
	return statusOK
}

//export ql_writer_new_fd
func ql_writer_new_fd(q unsafe.Pointer, fd C.int, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_writer_new_fd: out is NULL"))
	}
	f, err := core.OpenDescriptor(int(fd), true)
	if err != nil {
		return fail(err)
	}
	w, err := core.NewWriter(queue, f, core.WriterOptions{Name: f.Name()})
	if err != nil {
		f.Close()
		return fail(err)
	}
	*out = newHandle(&handle{typ: writerHandle, writer: w})
	return statusOK
}

//export ql_writer_new_path
func ql_writer_new_path(q unsafe.Pointer, path *C.char, mode C.int, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if mode != writeTruncate && mode != writeAppend {
		return fail(errorf(statusInvalid, "write mode %d is not QL_WRITE_TRUNCATE (0) or QL_WRITE_APPEND (1)", int(mode)))
	}
	if path == nil || out == nil {
		return fail(errorf(statusInvalid, "ql_writer_new_path: path and out must not be NULL"))
	}
	name := C.GoString(path)
	w, err := core.OpenWriter(queue, name, core.WriterOptions{Name: name, Append: mode == writeAppend})
	if err != nil {
		return fail(err)
	}
	*out = newHandle(&handle{typ: writerHandle, writer: w})
	return statusOK
}

//export ql_writer_free
func ql_writer_free(w unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	if w == nil {
		return statusOK
	}
	h, err := release(w, writerHandle)
	if err != nil {
		return fail(err)
	}
	h.writer.Stop()
	return statusOK
}

//export ql_writer_stop
func ql_writer_stop(w unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	h, err := lookup(w, writerHandle)
	if err != nil {
		return fail(err)
	}
	h.writer.Stop()
	return statusOK
}

//export ql_writer_wait
func ql_writer_wait(w unsafe.Pointer, timeoutUS C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	h, err := lookup(w, writerHandle)
	if err != nil {
		return fail(err)
	}
	if !waitDone(h.writer.Done(), duration(timeoutUS)) {
		return fail(errorf(statusTimeout, "writer is still running after %d µs", int64(timeoutUS)))
	}
	return result(h.writer.Err())
}

//export ql_writer_is_alive
func ql_writer_is_alive(w unsafe.Pointer, out *C.int) (status C.int) {
	defer recoverPanic(&status)
	h, err := lookup(w, writerHandle)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_writer_is_alive: out is NULL"))
	}
	*out = boolInt(h.writer.Alive())
	return statusOK
}

//export ql_writer_count
func ql_writer_count(w unsafe.Pointer, out *C.uint64_t) (status C.int) {
	defer recoverPanic(&status)
	h, err := lookup(w, writerHandle)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_writer_count: out is NULL"))
	}
	*out = C.uint64_t(h.writer.Count())
	return statusOK
}
