//go:build !linux

package queue

// affinity is unknown outside Linux: such a worker counts its task slots.
func affinity() []int { return nil }
