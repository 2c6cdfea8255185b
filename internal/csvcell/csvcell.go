// Package csvcell keeps text written to CSV files that people open in
// spreadsheets from being taken for a formula (OWASP CSV injection).
package csvcell

import "strings"

// Safe returns s with a leading apostrophe when it starts with = + - @ or a
// tab or carriage return, which a spreadsheet would read as a formula.
func Safe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
