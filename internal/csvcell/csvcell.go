// Package csvcell keeps text written to CSV files that people open in
// spreadsheets from being taken for a formula (OWASP CSV injection).
package csvcell

import "strings"

// Safe returns s with a leading apostrophe when it starts with = + - @ or a
// tab or carriage return, which a spreadsheet would read as a formula, or
// with apostrophes followed by one of those (so that Restore gives s back).
func Safe(s string) string {
	if formulaAfterQuotes(s) {
		return "'" + s
	}
	return s
}

// Restore undoes Safe: it drops the apostrophe Safe added, so that a file
// exported with Safe imports back to the same values. Other text is
// returned as it is.
func Restore(s string) string {
	if strings.HasPrefix(s, "'") && formulaAfterQuotes(s[1:]) {
		return s[1:]
	}
	return s
}

// formulaAfterQuotes reports whether s, after any leading apostrophes,
// starts with a character a spreadsheet takes for the start of a formula.
func formulaAfterQuotes(s string) bool {
	s = strings.TrimLeft(s, "'")
	return s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0]))
}
