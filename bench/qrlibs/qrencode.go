//go:build libqrencode && cgo

package qrlibs

/*
#cgo LDFLAGS: -lqrencode
#include <stdlib.h>
#include <qrencode.h>

// encode makes the symbol of s at level M (mode chosen by libqrencode,
// case-sensitive) and returns its width, or 0 on error.
static int encode(const char *s) {
	QRcode *q = QRcode_encodeString(s, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (q == NULL) return 0;
	int w = q->width;
	QRcode_free(q);
	return w;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// QRencode encodes s with libqrencode at level M (version chosen by the
// library, mask by its penalty rules) and returns the symbol's width.
func QRencode(s string) (int, error) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	w := int(C.encode(cs))
	if w == 0 {
		return 0, errors.New("libqrencode: QRcode_encodeString failed")
	}
	return w, nil
}
