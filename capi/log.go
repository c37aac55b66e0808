package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/queuelink/queuelink/core"
)

// Log levels of ql_log_attach; QL_LOG_* in include/queuelink.h. They are
// the numbers of Python's logging module.
const (
	logDebug   = 10
	logInfo    = 20
	logWarning = 30
	logError   = 40
)

// queueHandler is a slog.Handler that puts each record on a queue as a
// text message "LEVEL\tLOGGER\tMESSAGE key=value ...". It never blocks: a
// record that finds the queue full is counted, and the count is reported
// with the next record that fits.
type queueHandler struct {
	q       *core.Queue
	level   int
	dropped atomic.Uint64
}

func (h *queueHandler) Enabled(_ context.Context, level slog.Level) bool {
	return pythonLevel(level) >= h.level
}

func (h *queueHandler) Handle(_ context.Context, r slog.Record) error {
	logger := "queuelink"
	var text strings.Builder
	text.WriteString(r.Message)
	first := true
	r.Attrs(func(a slog.Attr) bool {
		if first {
			switch a.Key {
			case "link", "reader", "writer":
				logger = "queuelink." + a.Key
			}
			first = false
		}
		fmt.Fprintf(&text, " %s=%v", a.Key, a.Value.Any())
		return true
	})

	if n := h.dropped.Swap(0); n > 0 {
		fmt.Fprintf(&text, " (%d earlier log records were dropped: the log queue was full)", n)
	}
	payload := fmt.Sprintf("%d\t%s\t%s", pythonLevel(r.Level), logger, text.String())
	if err := h.q.Put(core.Message{Kind: core.KindText, Payload: []byte(payload)}, 0); err != nil {
		h.dropped.Add(1)
	}
	return nil
}

func (h *queueHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *queueHandler) WithGroup(string) slog.Handler      { return h }

func pythonLevel(level slog.Level) int {
	switch {
	case level >= slog.LevelError:
		return logError
	case level >= slog.LevelWarn:
		return logWarning
	case level >= slog.LevelInfo:
		return logInfo
	}
	return logDebug
}

// logTarget is the queue that ql_log_attach set, kept alive while attached.
var logTarget struct {
	sync.Mutex // guards the engine's logger and handle
	handle     *handle
}

//export ql_log_attach
func ql_log_attach(q unsafe.Pointer, level C.int) (status C.int) {
	defer recoverPanic(&status)
	logTarget.Lock()
	defer logTarget.Unlock()
	if q == nil {
		core.SetLogger(nil)
		logTarget.handle = nil
		return statusOK
	}
	h, err := lookup(q, queueHandle)
	if err != nil {
		return fail(err)
	}
	if level < logDebug || level > logError {
		return fail(errorf(statusInvalid, "log level %d is not between QL_LOG_DEBUG (10) and QL_LOG_ERROR (40)", int(level)))
	}
	core.SetLogger(slog.New(&queueHandler{q: h.queue, level: int(level)}))
	logTarget.handle = h
	return statusOK
}
