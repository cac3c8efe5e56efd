package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/mediagate/mediagate/internal/config"
)

// socketMode is the Unix socket's mode: the app's user and group (nginx's
// workers must be in it) may connect, nobody else.
const socketMode = 0o660

// listen opens the app's listener on cfg.Addr: TCP, or a Unix socket. The
// returned close function removes the socket file, if it is still ours.
func listen(cfg config.Config) (net.Listener, func(), error) {
	path, ok := cfg.UnixSocket()
	if !ok {
		ln, err := net.Listen("tcp", cfg.Addr)
		return ln, func() {}, err
	}
	return listenUnix(path)
}

// listenUnix listens on a Unix socket at path. A socket left there by an
// instance that is gone is removed; anything else there (a live socket, a
// file) is an error. The socket is bound in a private directory, given its
// mode and only then renamed into place, so nobody can connect to it before
// its mode says who may.
func listenUnix(path string) (net.Listener, func(), error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, nil, err
	}
	private, err := os.MkdirTemp(filepath.Dir(path), ".mediagate-sock-")
	if err != nil {
		return nil, nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	defer os.RemoveAll(private)
	tmp := filepath.Join(private, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	// The file is removed by us, under its final name, not by Close.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, socketMode); err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	ours, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	remove := func() {
		// Another instance may have taken the path since: leave its socket.
		if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, ours) {
			os.Remove(path)
		}
	}
	return ln, remove, nil
}

// removeStaleSocket removes the socket at path when nothing accepts on it.
// Nothing there is fine; a live socket or a file that is not a socket is an
// error, and neither is touched.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unix socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("unix socket %s: the path exists and is not a socket; not removing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("unix socket %s: another process is listening on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unix socket %s: removing the stale socket: %w", path, err)
	}
	return nil
}
