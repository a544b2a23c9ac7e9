//go:build !linux

package plugins

import "os/exec"

// setProcAttr does nothing outside Linux: there is no parent-death signal;
// the plugin notices its host is gone when the connection closes.
func setProcAttr(*exec.Cmd) {}

func lockStarterThread() {}

func unlockStarterThread() {}
