package main

/*
#include "capi.h"
*/
import "C"

import (
	"unsafe"

	"github.com/queuelink/queuelink/core"
)

func lookupLink(l unsafe.Pointer) (*core.Link, error) {
	h, err := lookup(l, linkHandle)
	if err != nil {
		return nil, err
	}
	return h.link, nil
}

func direction(dir C.int) (core.Direction, error) {
	d := core.Direction(dir)
	if d != core.Source && d != core.Destination {
		return 0, errorf(statusInvalid, "direction %d is not QL_SOURCE (1) or QL_DESTINATION (2)", int(dir))
	}
	return d, nil
}

//export ql_link_new
func ql_link_new(name *C.char, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	if out == nil {
		return fail(errorf(statusInvalid, "ql_link_new: out is NULL"))
	}
	linkName := ""
	if name != nil {
		linkName = C.GoString(name)
	}
	*out = newHandle(&handle{typ: linkHandle, link: core.NewLink(linkName)})
	return statusOK
}

//export ql_link_free
func ql_link_free(l unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	if l == nil {
		return statusOK
	}
	h, err := release(l, linkHandle)
	if err != nil {
		return fail(err)
	}
	h.link.Close()
	return statusOK
}

//export ql_link_register
func ql_link_register(l unsafe.Pointer, q unsafe.Pointer, dir C.int, id *C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	link, err := lookupLink(l)
	if err != nil {
		return fail(err)
	}
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	d, err := direction(dir)
	if err != nil {
		return fail(err)
	}
	if id == nil {
		return fail(errorf(statusInvalid, "ql_link_register: id is NULL"))
	}
	n, err := link.Register(queue, d)
	if err != nil {
		return fail(err)
	}
	*id = C.int64_t(n)
	return statusOK
}

//export ql_link_unregister
func ql_link_unregister(l unsafe.Pointer, id C.int64_t, dir C.int) (status C.int) {
	defer recoverPanic(&status)
	link, err := lookupLink(l)
	if err != nil {
		return fail(err)
	}
	d, err := direction(dir)
	if err != nil {
		return fail(err)
	}
	return result(link.Unregister(int64(id), d))
}

//export ql_link_queue
func ql_link_queue(l unsafe.Pointer, id C.int64_t, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	link, err := lookupLink(l)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_link_queue: out is NULL"))
	}
	q, _, err := link.Queue(int64(id))
	if err != nil {
		return fail(err)
	}
	*out = newHandle(&handle{typ: queueHandle, queue: q})
	return statusOK
}

//export ql_link_stop
func ql_link_stop(l unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	link, err := lookupLink(l)
	if err != nil {
		return fail(err)
	}
	link.Stop()
	return statusOK
}

//export ql_link_is_alive
func ql_link_is_alive(l unsafe.Pointer, out *C.int) (status C.int) {
	defer recoverPanic(&status)
	link, err := lookupLink(l)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_link_is_alive: out is NULL"))
	}
	alive, err := link.IsAlive()
	if err != nil {
		return fail(err)
	}
	*out = boolInt(alive)
	return statusOK
}

//export ql_link_is_empty
func ql_link_is_empty(l unsafe.Pointer, id C.int64_t, out *C.int) (status C.int) {
	defer recoverPanic(&status)
	link, err := lookupLink(l)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_link_is_empty: out is NULL"))
	}
	empty, err := link.IsEmpty(int64(id))
	if err != nil {
		return fail(err)
	}
	*out = boolInt(empty)
	return statusOK
}

//export ql_link_is_drained
func ql_link_is_drained(l unsafe.Pointer, out *C.int) (status C.int) {
	defer recoverPanic(&status)
	link, err := lookupLink(l)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_link_is_drained: out is NULL"))
	}
	*out = boolInt(link.IsDrained())
	return statusOK
}

//export ql_link_metrics
func ql_link_metrics(l unsafe.Pointer, out *C.ql_source_metrics, capacity C.size_t, count *C.size_t) (status C.int) {
	defer recoverPanic(&status)
	link, err := lookupLink(l)
	if err != nil {
		return fail(err)
	}
	if count == nil {
		return fail(errorf(statusInvalid, "ql_link_metrics: count is NULL"))
	}
	if out == nil && capacity > 0 {
		return fail(errorf(statusInvalid, "ql_link_metrics: out is NULL but cap is %d", uint64(capacity)))
	}
	all := link.Metrics()
	*count = C.size_t(len(all))
	if capacity == 0 {
		return statusOK
	}
	dst := unsafe.Slice(out, int(min(uint64(capacity), uint64(len(all)))))
	for i := range dst {
		m := all[i]
		dst[i] = C.ql_source_metrics{
			id:               C.int64_t(m.ID),
			count:            C.uint64_t(m.Count),
			data_point_count: C.int64_t(m.DataPoints),
			mean:             C.double(m.Mean.Seconds()),
			median:           C.double(m.Median.Seconds()),
			stddev:           C.double(m.StdDev.Seconds()),
		}
	}
	return statusOK
}
