package core

import "errors"

// Sentinel errors returned by the engine. Callers compare with errors.Is;
// returned errors may wrap them with the offending value.
var (
	// ErrClosed reports an operation on a closed queue, link, reader or writer.
	ErrClosed = errors.New("closed")
	// ErrEmpty reports a get that found no message within its timeout.
	ErrEmpty = errors.New("queue is empty")
	// ErrFull reports a put that found no room within its timeout.
	ErrFull = errors.New("queue is full")
	// ErrTimeout reports any other wait that ran out of time.
	ErrTimeout = errors.New("timed out")
	// ErrCanceled reports a wait abandoned because its cancel channel closed.
	ErrCanceled = errors.New("canceled")
	// ErrExists reports a queue registered twice on one link.
	ErrExists = errors.New("already registered")
	// ErrNotFound reports an unknown queue id on a link.
	ErrNotFound = errors.New("not found")
	// ErrNotStarted reports a question about publishers that never ran.
	ErrNotStarted = errors.New("no publisher was ever started")
	// ErrInvalid reports an argument with an invalid value.
	ErrInvalid = errors.New("invalid argument")
	// ErrTaskDone reports more TaskDone calls than messages put.
	ErrTaskDone = errors.New("task_done() called too many times")
	// ErrMalformed reports input a reader cannot frame: a Connection
	// stream cut inside a frame or with an impossible length.
	ErrMalformed = errors.New("malformed stream")
	// ErrTooLarge reports a message too large for the space a batch get
	// was given; the message stays in the queue.
	ErrTooLarge = errors.New("message is larger than the space given")
)
