//go:build !race

package core

// stressMessagesPerSource is the number of messages each source of the
// stress test moves.
const stressMessagesPerSource = 100_000
