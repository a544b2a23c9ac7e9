//go:build linux

package plugins

import (
	"os/exec"
	"runtime"
	"syscall"
)

// setProcAttr makes the kernel SIGKILL the plugin when the host dies
// (PR_SET_PDEATHSIG), so a plugin never outlives a killed host. The signal
// is tied to the OS thread that started the child, hence
// lockStarterThread.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// lockStarterThread pins the goroutine that starts a plugin to its OS
// thread until the plugin has exited: the Go runtime ends a thread only
// when a goroutine locked to it exits, and that would fire the parent-death
// signal of the plugin it started.
func lockStarterThread() { runtime.LockOSThread() }

// unlockStarterThread undoes lockStarterThread once the plugin is reaped.
func unlockStarterThread() { runtime.UnlockOSThread() }
