//go:build !race

package raftmeta

const raceEnabled = false
