package main

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/queuelink/queuelink/core"
)

func lookupQueue(q unsafe.Pointer) (*core.Queue, error) {
	h, err := lookup(q, queueHandle)
	if err != nil {
		return nil, err
	}
	return h.queue, nil
}

//export ql_queue_new
func ql_queue_new(order C.int, maxsize C.int64_t, out *unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	if out == nil {
		return fail(errorf(statusInvalid, "ql_queue_new: out is NULL"))
	}
	size := int64(maxsize)
	if size > math.MaxInt32 {
		return fail(errorf(statusInvalid, "queue maxsize %d is too large; the largest bound is %d, or pass 0 for an unbounded queue", size, math.MaxInt32))
	}
	q, err := core.NewQueue(core.Order(order), int(size))
	if err != nil {
		return fail(err)
	}
	*out = newHandle(&handle{typ: queueHandle, queue: q, owner: true})
	return statusOK
}

//export ql_queue_free
func ql_queue_free(q unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	if q == nil {
		return statusOK
	}
	h, err := release(q, queueHandle)
	if err != nil {
		return fail(err)
	}
	if h.owner {
		h.queue.Close()
		if !h.queue.InUse() {
			// Nothing can take the messages left any more: drop them
			// now, so that their spill files go at once.
			h.queue.Drain()
		}
	}
	return statusOK
}

//export ql_queue_close
func ql_queue_close(q unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	queue.Close()
	return statusOK
}

//export ql_queue_put
func ql_queue_put(q unsafe.Pointer, kind C.int, data unsafe.Pointer, length C.size_t, timeoutUS C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	msg := C.ql_msg{kind: C.int32_t(kind), data: data, len: length}
	return putMessage(q, &msg, timeoutUS)
}

//export ql_queue_put_priority
func ql_queue_put_priority(q unsafe.Pointer, kind C.int, priority C.int64_t, data unsafe.Pointer, length C.size_t, timeoutUS C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	msg := C.ql_msg{kind: C.int32_t(kind), priority: priority, data: data, len: length}
	return putMessage(q, &msg, timeoutUS)
}

// Message flags; QL_MSG_* in include/queuelink.h.
const (
	msgWrapped = C.uint32_t(core.FlagWrapped)
	msgSpilled = C.uint32_t(core.FlagSpilled)
)

//export ql_queue_put_msg
func ql_queue_put_msg(q unsafe.Pointer, msg *C.ql_msg, timeoutUS C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	if msg == nil {
		return fail(errorf(statusInvalid, "ql_queue_put_msg: msg is NULL"))
	}
	return putMessage(q, msg, timeoutUS)
}

// putMessage puts a copy of msg on the queue behind q.
func putMessage(q unsafe.Pointer, msg *C.ql_msg, timeoutUS C.int64_t) C.int {
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if uint64(msg.len) > math.MaxInt {
		return fail(errorf(statusInvalid, "payload length %d is too large", uint64(msg.len)))
	}
	if err := checkMessage(msg); err != nil {
		return fail(err)
	}
	// make(len(src)) followed at once by copy lets the compiler skip zeroing.
	src := payloadOf(msg)
	payload := make([]byte, len(src))
	copy(payload, src)
	return result(queueError(queue.Put(messageOf(msg, payload), duration(timeoutUS))))
}

//export ql_queue_get
func ql_queue_get(q unsafe.Pointer, timeoutUS C.int64_t, buf unsafe.Pointer, capacity C.size_t, msg *C.ql_msg) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if msg == nil {
		return fail(errorf(statusInvalid, "ql_queue_get: msg is NULL"))
	}
	m, err := queue.Get(duration(timeoutUS))
	if err != nil {
		return fail(queueError(err))
	}
	fillMessage(msg, m, buf, capacity)
	return statusOK
}

// checkKind reports whether kind is a QL_KIND_* value.
func checkKind(kind int64) error {
	if kind < 0 || kind > math.MaxUint8 || !core.Kind(kind).Valid() {
		return errorf(statusInvalid, "message kind %d is not QL_KIND_TEXT (1), QL_KIND_BYTES (2) or QL_KIND_PICKLE (3)", kind)
	}
	return nil
}

// checkMessage reports what is invalid in a caller's ql_msg, if anything.
func checkMessage(msg *C.ql_msg) error {
	if err := checkKind(int64(msg.kind)); err != nil {
		return err
	}
	if msg.flags&^(msgWrapped|msgSpilled) != 0 {
		return errorf(statusInvalid, "message flags %#x include bits other than QL_MSG_WRAPPED (1) and QL_MSG_SPILLED (2)", uint32(msg.flags))
	}
	if msg.flags&msgSpilled != 0 && msg.len == 0 {
		return errorf(statusInvalid, "a message with QL_MSG_SPILLED needs the path of its spill file in data")
	}
	if msg.data == nil && msg.len != 0 {
		return errorf(statusInvalid, "payload is NULL but its length is %d", uint64(msg.len))
	}
	return nil
}

// payloadOf returns the caller's payload of a checked ql_msg, without
// copying it.
func payloadOf(msg *C.ql_msg) []byte {
	if msg.len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(msg.data), int(msg.len))
}

// messageOf converts a checked ql_msg to an engine message with payload,
// which must be a copy of the caller's payload.
func messageOf(msg *C.ql_msg, payload []byte) core.Message {
	return core.Message{Kind: core.Kind(msg.kind), Flags: core.Flags(msg.flags), Priority: int64(msg.priority), Payload: payload}
}

//export ql_queue_put_batch
func ql_queue_put_batch(q unsafe.Pointer, msgs *C.ql_msg, count C.size_t, timeoutUS C.int64_t, done *C.size_t) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if done == nil {
		return fail(errorf(statusInvalid, "ql_queue_put_batch: done is NULL"))
	}
	*done = 0
	if count == 0 {
		return statusOK
	}
	if msgs == nil {
		return fail(errorf(statusInvalid, "ql_queue_put_batch: msgs is NULL but count is %d", uint64(count)))
	}
	if uint64(count) > math.MaxInt32 {
		return fail(errorf(statusInvalid, "batch of %d messages is too large; split it", uint64(count)))
	}
	in := unsafe.Slice(msgs, int(count))

	// One allocation holds every payload of the batch.
	total := uint64(0)
	for i := range in {
		total += uint64(in[i].len)
		if total > math.MaxInt {
			return fail(errorf(statusInvalid, "payloads of the batch are too large together; split it"))
		}
	}
	arena := make([]byte, int(total))
	batch := make([]core.Message, len(in))
	for i := range in {
		if err := checkMessage(&in[i]); err != nil {
			return fail(fmt.Errorf("message %d of the batch: %w", i, err))
		}
	}
	for i := range in {
		n := copy(arena, payloadOf(&in[i]))
		batch[i] = messageOf(&in[i], arena[:n:n])
		arena = arena[n:]
	}

	n, err := queue.PutBatch(batch, duration(timeoutUS))
	*done = C.size_t(n)
	return result(queueError(err))
}

//export ql_queue_get_batch
func ql_queue_get_batch(q unsafe.Pointer, timeoutUS C.int64_t, msgs *C.ql_msg, capacity C.size_t, buf unsafe.Pointer, bufCap C.size_t, count *C.size_t) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if count == nil {
		return fail(errorf(statusInvalid, "ql_queue_get_batch: count is NULL"))
	}
	if msgs == nil && capacity > 0 {
		return fail(errorf(statusInvalid, "ql_queue_get_batch: msgs is NULL but cap is %d", uint64(capacity)))
	}
	if capacity == 0 {
		*count = 0
		return statusOK
	}
	max := int(min(uint64(capacity), math.MaxInt32))
	got, err := queue.GetBatch(make([]core.Message, 0, min(max, 1024)), max, duration(timeoutUS))
	if err != nil {
		return fail(queueError(err))
	}

	out := unsafe.Slice(msgs, len(got))
	used := C.size_t(0)
	for i, m := range got {
		n := C.size_t(len(m.Payload))
		if buf != nil && n <= bufCap-used {
			fillMessage(&out[i], m, unsafe.Add(buf, used), n)
			used += n
		} else {
			fillMessage(&out[i], m, nil, 0)
		}
	}
	*count = C.size_t(len(got))
	return statusOK
}

// batches holds message slices for the packed calls, which use them only
// for the length of a call.
var batches = sync.Pool{New: func() any { return new(messageBatch) }}

// messageBatch is a slice of messages from batches.
type messageBatch struct{ msgs []core.Message }

// takeBatch returns an empty batch from batches.
func takeBatch() *messageBatch {
	b := batches.Get().(*messageBatch)
	b.msgs = b.msgs[:0]
	return b
}

// release drops the batch's payload references and returns it to batches.
func (b *messageBatch) release() {
	clear(b.msgs)
	b.msgs = b.msgs[:0]
	batches.Put(b)
}

//export ql_queue_put_packed
func ql_queue_put_packed(q unsafe.Pointer, kind C.int, data unsafe.Pointer, lens *C.uint64_t, count C.size_t, timeoutUS C.int64_t, done *C.size_t) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if done == nil {
		return fail(errorf(statusInvalid, "ql_queue_put_packed: done is NULL"))
	}
	*done = 0
	if err := checkKind(int64(kind)); err != nil {
		return fail(err)
	}
	if count == 0 {
		return statusOK
	}
	if lens == nil {
		return fail(errorf(statusInvalid, "ql_queue_put_packed: lens is NULL but count is %d", uint64(count)))
	}
	if uint64(count) > math.MaxInt32 {
		return fail(errorf(statusInvalid, "batch of %d messages is too large; split it", uint64(count)))
	}
	sizes := unsafe.Slice((*uint64)(unsafe.Pointer(lens)), int(count))
	total := uint64(0)
	for _, n := range sizes {
		total += n
		if n > math.MaxInt || total > math.MaxInt {
			return fail(errorf(statusInvalid, "payloads of the batch are too large together; split it"))
		}
	}
	if data == nil && total > 0 {
		return fail(errorf(statusInvalid, "ql_queue_put_packed: data is NULL but the payloads take %d bytes", total))
	}

	// One allocation holds every payload of the batch.
	var src []byte
	if total > 0 {
		src = unsafe.Slice((*byte)(data), int(total))
	}
	arena := make([]byte, len(src))
	copy(arena, src)
	batch := takeBatch()
	defer batch.release()
	for _, n := range sizes {
		batch.msgs = append(batch.msgs, core.Message{Kind: core.Kind(kind), Payload: arena[:n:n]})
		arena = arena[n:]
	}
	n, err := queue.PutBatch(batch.msgs, duration(timeoutUS))
	*done = C.size_t(n)
	return result(queueError(err))
}

//export ql_queue_get_packed
func ql_queue_get_packed(q unsafe.Pointer, timeoutUS C.int64_t, buf unsafe.Pointer, bufCap C.size_t, lens *C.uint64_t, kinds *C.uint32_t, capacity C.size_t, count *C.size_t) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	switch {
	case count == nil:
		return fail(errorf(statusInvalid, "ql_queue_get_packed: count is NULL"))
	case capacity > 0 && (lens == nil || kinds == nil):
		return fail(errorf(statusInvalid, "ql_queue_get_packed: lens and kinds must not be NULL when cap is %d", uint64(capacity)))
	case buf == nil && bufCap > 0:
		return fail(errorf(statusInvalid, "ql_queue_get_packed: buf is NULL but buf_cap is %d", uint64(bufCap)))
	}
	if capacity == 0 {
		*count = 0
		return statusOK
	}
	max := int(min(uint64(capacity), math.MaxInt32))
	space := int(min(uint64(bufCap), maxBuffer))
	batch := takeBatch()
	defer batch.release()
	var need int
	batch.msgs, need, err = queue.GetBatchFit(batch.msgs, max, space, duration(timeoutUS))
	if err == core.ErrTooLarge {
		*lens = C.uint64_t(need)
		*count = 0
		return fail(errorf(statusSpace, "the next message has %d bytes, more than the %d bytes of buf; take it with ql_queue_get or pass a larger buffer", need, space))
	}
	if err != nil {
		return fail(queueError(err))
	}

	got := batch.msgs
	sizes := unsafe.Slice((*uint64)(unsafe.Pointer(lens)), len(got))
	packed := unsafe.Slice((*uint32)(unsafe.Pointer(kinds)), len(got))
	out := unsafe.Slice((*byte)(buf), space)
	for i, m := range got {
		sizes[i] = uint64(len(m.Payload))
		packed[i] = uint32(m.Kind) | uint32(m.Flags)<<packedFlagsShift
		out = out[copy(out, m.Payload):]
	}
	*count = C.size_t(len(got))
	return statusOK
}

// maxBuffer bounds the buffer size a caller may claim to pass.
const maxBuffer = 1 << 40

// packedFlagsShift places a message's flags above its kind in the kinds
// that ql_queue_get_packed reports (QL_PACKED_FLAGS_SHIFT).
const packedFlagsShift = 8

// fillMessage copies m into msg, into buf when it fits, else into memory
// from malloc that ql_msg_free releases.
func fillMessage(msg *C.ql_msg, m core.Message, buf unsafe.Pointer, capacity C.size_t) {
	n := len(m.Payload)
	*msg = C.ql_msg{kind: C.int32_t(m.Kind), priority: C.int64_t(m.Priority), len: C.size_t(n), flags: C.uint32_t(m.Flags)}
	switch {
	case buf != nil && uint64(n) <= uint64(capacity):
		msg.data = buf
	case n == 0:
		return
	default:
		msg.data = C.malloc(C.size_t(n))
		if msg.data == nil {
			panic("malloc failed for a message payload")
		}
		msg.owned = 1
	}
	copy(unsafe.Slice((*byte)(msg.data), n), m.Payload)
}

//export ql_queue_len
func ql_queue_len(q unsafe.Pointer, out *C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_queue_len: out is NULL"))
	}
	*out = C.int64_t(queue.Len())
	return statusOK
}

//export ql_queue_maxsize
func ql_queue_maxsize(q unsafe.Pointer, out *C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_queue_maxsize: out is NULL"))
	}
	*out = C.int64_t(queue.Maxsize())
	return statusOK
}

//export ql_queue_is_closed
func ql_queue_is_closed(q unsafe.Pointer, out *C.int) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(errorf(statusInvalid, "ql_queue_is_closed: out is NULL"))
	}
	*out = boolInt(queue.Closed())
	return statusOK
}

//export ql_queue_task_done
func ql_queue_task_done(q unsafe.Pointer) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	return result(queue.TaskDone())
}

//export ql_queue_join
func ql_queue_join(q unsafe.Pointer, timeoutUS C.int64_t) (status C.int) {
	defer recoverPanic(&status)
	queue, err := lookupQueue(q)
	if err != nil {
		return fail(err)
	}
	return result(queueError(queue.Join(duration(timeoutUS))))
}

// queueError words the engine's bare queue errors for ql_errmsg().
func queueError(err error) error {
	switch err {
	case core.ErrClosed:
		return fmt.Errorf("the queue is %w", err)
	case core.ErrEmpty:
		return fmt.Errorf("no message arrived in time: %w", err)
	case core.ErrFull:
		return fmt.Errorf("no room appeared in time: %w", err)
	case core.ErrTimeout:
		return fmt.Errorf("unfinished tasks remain: join %w", err)
	}
	return err
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
