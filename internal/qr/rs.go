package qr

// Reed-Solomon error correction over GF(2^8) with the QR polynomial
// x^8 + x^4 + x^3 + x^2 + 1 (0x11D).

var (
	gfExp [512]byte // gfExp[i] = 2^i, doubled so sums of two logs need no reduction
	gfLog [256]byte // gfLog[x] = i such that 2^i = x, for x ≠ 0
)

// rsMul[d] holds, for the generator polynomial of degree d, the product of
// each field element with every coefficient: rsMul[d][f*d+i] = f·g_i, where
// g_0 … g_{d-1} are the coefficients below the leading 1, highest first.
// Only the degrees QR symbols use are filled.
var rsMul [31][]byte

func init() {
	x := 1
	for i := range 255 {
		gfExp[i] = byte(x)
		gfExp[i+255] = byte(x)
		gfLog[x] = byte(i)
		x <<= 1
		if x >= 0x100 {
			x ^= 0x11D
		}
	}
	for l := range eccPerBlock {
		for v := 1; v <= MaxVersion; v++ {
			d := int(eccPerBlock[l][v])
			if rsMul[d] != nil {
				continue
			}
			g := rsGenerator(d)
			t := make([]byte, 256*d)
			for f := 1; f < 256; f++ {
				for i, c := range g {
					t[f*d+i] = gfMul(byte(f), c)
				}
			}
			rsMul[d] = t
		}
	}
}

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

// rsGenerator returns the coefficients, highest power first and without the
// leading 1, of (x - 2^0)(x - 2^1)…(x - 2^(d-1)).
func rsGenerator(d int) []byte {
	g := make([]byte, d)
	g[d-1] = 1
	root := byte(1)
	for range d {
		for j := range d {
			g[j] = gfMul(g[j], root)
			if j+1 < d {
				g[j] ^= g[j+1]
			}
		}
		root = gfMul(root, 2)
	}
	return g
}

// rsRemainder writes to ecc (whose length is the degree) the error
// correction codewords of data.
func rsRemainder(data, ecc []byte) {
	d := len(ecc)
	t := rsMul[d]
	clear(ecc)
	for _, b := range data {
		f := int(b ^ ecc[0])
		copy(ecc, ecc[1:])
		ecc[d-1] = 0
		row := t[f*d : f*d+d]
		for i, c := range row {
			ecc[i] ^= c
		}
	}
}
