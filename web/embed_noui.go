//go:build no_ui

// Package web holds the browser UI. This build (tag no_ui) leaves it out.
package web

import "io/fs"

// Dist returns nil: the binary was built with the no_ui tag.
func Dist() fs.FS { return nil }
