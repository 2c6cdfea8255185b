module github.com/qrmfg/qrmfg/bench/qrlibs

go 1.26.8

require github.com/qrmfg/qrmfg v0.0.0

require (
	github.com/boombuler/barcode v1.1.0 // indirect
	github.com/piglig/go-qr v1.1.0 // indirect
	github.com/skip2/go-qrcode v0.0.0-20200617195104-da1b6568686e // indirect
	github.com/yeqown/go-qrcode/v2 v2.3.0 // indirect
	github.com/yeqown/reedsolomon v1.0.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	rsc.io/qr v0.2.0 // indirect
)

replace github.com/qrmfg/qrmfg => ../..
