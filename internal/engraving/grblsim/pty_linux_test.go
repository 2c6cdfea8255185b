//go:build linux

package grblsim

import (
	"os"
	"syscall"
)

func openRaw(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	if err := makeRaw(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
