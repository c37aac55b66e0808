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

// Flags describe how a message's payload is held and presented.
type Flags uint32

// Message flags. Their values match the QL_MSG_* constants of the C ABI.
const (
	// FlagWrapped asks consumers to present the payload wrapped, as
	// Python's ContentWrapper does for large lines.
	FlagWrapped Flags = 1 << 0
	// FlagSpilled means the payload is in a spill file: Payload holds the
	// file's path, and the message owns the file (see spill.go).
	FlagSpilled Flags = 1 << 1
)

// Message is the unit a queue holds: a payload of a given kind. Payloads
// may contain NUL bytes. A queue never copies or changes a payload, so the
// producer must not modify it after Put.
type Message struct {
	Kind     Kind
	Flags    Flags
	Priority int64
	Payload  []byte

	// putAt is when the message entered its current queue, in monotonic
	// nanoseconds (see nanotime); links use it to measure waiting time.
	putAt int64
}
