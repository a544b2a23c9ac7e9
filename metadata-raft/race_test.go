//go:build race

package raftmeta

const raceEnabled = true
