//go:build race

package core

// stressMessagesPerSource is smaller under the race detector, which slows
// every synchronisation by an order of magnitude.
const stressMessagesPerSource = 20_000
