//go:build linux

package grblsim

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair: the simulator serves the master side and a
// serial driver opens SlavePath like any /dev/ttyUSB device.
type PTY struct {
	master *os.File
	slave  *os.File // kept open so the master never reads EIO between clients
	path   string
}

// OpenPTY opens a new pseudo-terminal in raw mode (no cgo: /dev/ptmx and
// ioctls). Serve it with (*Sim).ServeConn and Close it when done.
func OpenPTY() (*PTY, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("grblsim: open /dev/ptmx: %w", err)
	}
	var n uint32
	var ioErr error
	rc, err := m.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr != nil {
				return
			}
			n, ioErr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
		})
	}
	if err == nil {
		err = ioErr
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("grblsim: unlock pty: %w", err)
	}
	path := fmt.Sprintf("/dev/pts/%d", n)
	s, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("grblsim: open %s: %w", path, err)
	}
	if err := makeRaw(s); err != nil {
		s.Close()
		m.Close()
		return nil, err
	}
	return &PTY{master: m, slave: s, path: path}, nil
}

func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("grblsim: raw mode: %w", err)
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		// cfmakeraw
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err == nil {
		err = ioErr
	}
	if err != nil {
		return fmt.Errorf("grblsim: raw mode: %w", err)
	}
	return nil
}

// SlavePath is the device a serial driver opens, e.g. /dev/pts/3.
func (p *PTY) SlavePath() string { return p.path }

// Read reads what the driver wrote.
func (p *PTY) Read(b []byte) (int, error) { return p.master.Read(b) }

// Write sends bytes to the driver.
func (p *PTY) Write(b []byte) (int, error) { return p.master.Write(b) }

// Close closes both sides; a driver that has the slave open then reads an error.
func (p *PTY) Close() error {
	err := p.master.Close()
	if e := p.slave.Close(); err == nil {
		err = e
	}
	return err
}
