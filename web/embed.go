//go:build !no_ui

// Package web holds the browser UI: its sources (React + TypeScript, built
// with Vite) and the production build in dist, which this package embeds so
// the binary serves the UI with no Node installed.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the production build (index.html and assets/), or nil when the
// binary is built with the no_ui tag.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path: cannot happen
	}
	return sub
}
