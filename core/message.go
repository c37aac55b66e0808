package core

import "fmt"

// Kind tells a consumer how to read a message's payload.
type Kind uint8

// Message kinds. Their values match the QL_KIND_* constants of the C ABI.
const (
	KindText   Kind = 1 // UTF-8 text
	KindBytes  Kind = 2 // raw bytes
	KindPickle Kind = 3 // a Python pickle, opaque to the engine
)

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool {
	return k >= KindText && k <= KindPickle
}

func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindBytes:
		return "bytes"
	case KindPickle:
		return "pickle"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Message is the unit a queue holds: a payload of a given kind. Payloads
// may contain NUL bytes. A queue never copies or changes a payload, so the
// producer must not modify it after Put.
type Message struct {
	Kind     Kind
	Priority int64
	Payload  []byte

	// putAt is when the message entered its current queue, in monotonic
	// nanoseconds (see nanotime); links use it to measure waiting time.
	putAt int64
}
