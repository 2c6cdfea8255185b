package decode

import (
	"bytes"
	"context"
	"image"
	"sort"
	"testing"
	"time"
)

func TestTimingTmp(t *testing.T) {
	imgs := loadQRReal(t)
	type r struct {
		name string
		d    time.Duration
		ok   bool
	}
	var rs []r
	var tot time.Duration
	for _, im := range imgs {
		p, _, _ := image.Decode(bytes.NewReader(im.data))
		var codes []Code
		d := time.Hour
		for k := 0; k < 5; k++ {
			st := time.Now()
			codes, _ = Image(context.Background(), p, DefaultOptions())
			d = min(d, time.Since(st))
		}
		ok := false
		for _, c := range codes {
			if bytes.Equal([]byte(c.Text), im.expected) {
				ok = true
			}
		}
		rs = append(rs, r{im.name, d, ok})
		tot += d
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].d > rs[j].d })
	var okT, missT time.Duration
	for _, x := range rs {
		if x.ok {
			okT += x.d
		} else {
			missT += x.d
		}
	}
	t.Logf("total %v ok %v miss %v", tot, okT, missT)
	for _, x := range rs[:25] {
		t.Logf("%v %v %s", x.d, x.ok, x.name)
	}
}
