package core

import (
	"log/slog"
	"sync/atomic"
)

// logger receives the engine's events: publishers, readers and writers
// starting and ending, and the errors they handle without returning.
var logger atomic.Pointer[slog.Logger]

func init() {
	logger.Store(slog.New(slog.DiscardHandler))
}

// SetLogger sends the engine's events to l. A nil l discards them, which
// is the default.
func SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	logger.Store(l)
}

func log() *slog.Logger { return logger.Load() }
