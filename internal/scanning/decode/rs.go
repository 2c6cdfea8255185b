package decode

// Reed-Solomon decoding over GF(256) with the QR code polynomial
// x⁸+x⁴+x³+x²+1 and first consecutive root α⁰ (ISO/IEC 18004), by
// syndromes, Berlekamp-Massey, a Chien search over the block's positions
// and Forney's formula, on exp/log tables: gozxing's decoder allocates a
// polynomial object per step and was most of the cost of reading a sampled
// grid. A block without errors costs one syndrome pass.

// gf256 holds the exp and log tables of GF(256).
type gf256 struct {
	exp [510]byte // exp[i] = α^i, doubled so a sum of two logs needs no mod
	log [256]int  // log[α^i] = i; log[0] is unused
}

func newGF256() *gf256 {
	f := &gf256{}
	x := 1
	for i := 0; i < 255; i++ {
		f.exp[i], f.exp[i+255] = byte(x), byte(x)
		f.log[x] = i
		x <<= 1
		if x >= 256 {
			x ^= 0x11d
		}
	}
	return f
}

// qrField is read-only after initialisation.
var qrField = newGF256()

func (f *gf256) mul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return f.exp[f.log[a]+f.log[b]]
}

func (f *gf256) div(a, b byte) byte {
	if a == 0 {
		return 0
	}
	return f.exp[f.log[a]+255-f.log[b]]
}

// inv returns 1/a for a ≠ 0.
func (f *gf256) inv(a byte) byte { return f.exp[255-f.log[a]] }

// rsCorrect corrects block (data then nsym error-correction codewords,
// highest-degree coefficient first) in place and returns the number of
// codewords changed, or false when it holds more errors than nsym/2 can
// correct (as far as that can be told).
func rsCorrect(block []byte, nsym int) (int, bool) {
	f := qrField
	n := len(block)
	if nsym <= 0 || nsym >= n || n > 255 {
		return 0, nsym == 0
	}
	var synd [256]byte
	clean := true
	for i := 0; i < nsym; i++ {
		s := f.syndrome(block, i)
		synd[i] = s
		clean = clean && s == 0
	}
	if clean {
		return 0, true
	}
	// Berlekamp-Massey: the error locator Λ(x) = 1 + Λ₁x + … + Λ_L x^L.
	var lambda, prev, tmp [256]byte
	lambda[0], prev[0] = 1, 1
	L, m := 0, 1
	b := byte(1)
	for k := 0; k < nsym; k++ {
		d := synd[k]
		for i := 1; i <= L; i++ {
			d ^= f.mul(lambda[i], synd[k-i])
		}
		if d == 0 {
			m++
			continue
		}
		coef := f.div(d, b)
		if 2*L <= k {
			tmp = lambda
			for i := 0; i+m < nsym+1; i++ {
				lambda[i+m] ^= f.mul(coef, prev[i])
			}
			L, prev, b, m = k+1-L, tmp, d, 1
		} else {
			for i := 0; i+m < nsym+1; i++ {
				lambda[i+m] ^= f.mul(coef, prev[i])
			}
			m++
		}
	}
	if L == 0 || 2*L > nsym {
		return 0, false
	}
	// Chien search over the positions of the block: codeword j carries
	// x^(n-1-j), an error there is a root of Λ at α^-(n-1-j).
	var pos [128]int
	found := 0
	for j := 0; j < n; j++ {
		p := n - 1 - j
		xinv := f.exp[(255-p)%255]
		var v byte
		for i := L; i >= 0; i-- {
			v = f.mul(v, xinv) ^ lambda[i]
		}
		if v == 0 {
			if found == L {
				return 0, false
			}
			pos[found] = j
			found++
		}
	}
	if found != L {
		return 0, false
	}
	// Forney: Ω(x) = S(x)Λ(x) mod x^nsym; e = X·Ω(X⁻¹)/Λ'(X⁻¹) for the
	// first consecutive root α⁰.
	var omega [256]byte
	for i := 0; i < nsym; i++ {
		var v byte
		for k := 0; k <= i && k <= L; k++ {
			v ^= f.mul(lambda[k], synd[i-k])
		}
		omega[i] = v
	}
	for _, j := range pos[:found] {
		p := n - 1 - j
		x := f.exp[p]
		xinv := f.inv(x)
		var num, den byte
		for i := nsym - 1; i >= 0; i-- {
			num = f.mul(num, xinv) ^ omega[i]
		}
		// Λ'(x): the odd terms, in characteristic 2.
		for i := L | 1; i >= 1; i -= 2 {
			if i <= L {
				den = f.mul(den, f.mul(xinv, xinv)) ^ lambda[i]
			} else {
				den = f.mul(den, f.mul(xinv, xinv))
			}
		}
		if den == 0 {
			return 0, false
		}
		block[j] ^= f.mul(x, f.div(num, den))
	}
	// What was corrected must be a codeword.
	for i := 0; i < nsym; i++ {
		if f.syndrome(block, i) != 0 {
			return 0, false
		}
	}
	return found, true
}

// syndrome evaluates block, as a polynomial with its first codeword the
// highest-degree coefficient, at α^i (Horner).
func (f *gf256) syndrome(block []byte, i int) byte {
	var s byte
	for _, c := range block {
		if s != 0 {
			s = f.exp[f.log[s]+i]
		}
		s ^= c
	}
	return s
}
