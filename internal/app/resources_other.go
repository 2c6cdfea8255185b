//go:build !unix

package app

func readProcessLimits() processLimits { return processLimits{} }
