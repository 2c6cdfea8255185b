//go:build libqrencode && cgo

package qrlibs

func init() {
	encoders = append(encoders, struct {
		name   string
		encode func(string) (int, error)
	}{"libqrencode-cgo", QRencode})
}
