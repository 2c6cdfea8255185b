package grbl

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func TestParseAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Address
	}{
		{"tcp://127.0.0.1:23", Address{Network: "tcp", Host: "127.0.0.1:23"}},
		{"tcp://engraver.lan:8080", Address{Network: "tcp", Host: "engraver.lan:8080"}},
		{"serial:///dev/ttyUSB0", Address{Network: "serial", Path: "/dev/ttyUSB0", Baud: 115200}},
		{"serial:///dev/ttyACM1?baud=250000", Address{Network: "serial", Path: "/dev/ttyACM1", Baud: 250000}},
	} {
		got, err := ParseAddress(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "http://x:1", "tcp://x", "tcp://x:0", "tcp://:23", "tcp://x:23/path",
		"serial://dev/ttyUSB0", "serial:///etc/passwd", "serial:///dev/../etc/passwd", "serial:///dev/ttyUSB0?baud=12", "/dev/ttyUSB0"} {
		if _, err := ParseAddress(bad); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("%q: got %v, want EINVALID", bad, err)
		}
	}
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestDialerAllowList(t *testing.T) {
	t.Parallel()
	_, addr := startSim(t, grblsim.Config{TimeScale: 100})
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	res := fakeResolver{
		"engraver.test": {netip.MustParseAddr("127.0.0.1")},
		"mixed.test":    {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254")},
		"lan.test":      {netip.MustParseAddr("10.20.0.7")},
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		d       Dialer
		addr    string
		wantErr string
	}{
		{"OKLoopbackDefault", Dialer{Resolver: res}, "tcp://127.0.0.1:" + port, ""},
		{"OKHostName", Dialer{Resolver: res}, "tcp://engraver.test:" + port, ""},
		{"ErrPrivateByDefault", Dialer{Resolver: res}, "tcp://10.20.0.7:23", qrmfg.EFORBIDDEN},
		{"ErrOneAddressOutside", Dialer{Resolver: res}, "tcp://mixed.test:" + port, qrmfg.EFORBIDDEN},
		{"ErrNameOutside", Dialer{Resolver: res}, "tcp://lan.test:23", qrmfg.EFORBIDDEN},
		{"ErrMetadata", Dialer{Resolver: res, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}, "tcp://169.254.169.254:80", qrmfg.EFORBIDDEN},
		{"ErrUnknownHost", Dialer{Resolver: res}, "tcp://nowhere.test:23", qrmfg.EUNAVAILABLE},
		{"ErrBadAddress", Dialer{Resolver: res}, "ftp://x:1", qrmfg.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.d.Dial(ctx, tc.addr, Options{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if qrmfg.ErrorCode(err) != tc.wantErr {
				t.Fatalf("got %v, want %s", err, tc.wantErr)
			}
		})
	}
	// A listed subnet is reachable: the check passes and the dial is tried.
	d := Dialer{Resolver: res, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	if ap, err := d.CheckTCP(ctx, "lan.test:23"); err != nil || ap.String() != "10.20.0.7:23" {
		t.Fatalf("allowed subnet: %v %v", ap, err)
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	var wco [3]float64
	st, err := parseStatus("<Run|MPos:10.000,5.500,-1.000|Bf:12,96|Ln:42|FS:3000,800|Pn:XD|WCO:1.000,2.000,0.000|A:C>", &wco)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "Run" || st.SubState != -1 || st.MPos != [3]float64{10, 5.5, -1} || st.WPos != [3]float64{9, 3.5, -1} ||
		st.PlannerFree != 12 || st.RXFree != 96 || st.Line != 42 || st.Feed != 3000 || st.Speed != 800 || st.Pins != "XD" || !st.LaserOn() {
		t.Fatalf("%+v", st)
	}
	// The offset is remembered for reports without WCO.
	st, err = parseStatus("<Door:1|WPos:1.000,1.000,0.000|FS:0,0|Ov:100,50,120>", &wco)
	if err != nil || st.State != "Door" || st.SubState != 1 || st.MPos != [3]float64{2, 3, 0} || st.Overrides != [3]int{100, 50, 120} || st.LaserOn() || st.PlannerFree != -1 {
		t.Fatalf("%+v %v", st, err)
	}
	for _, bad := range []string{"<Idle|MPos:1,2>", "<Hold:x>", "<Idle|Bf:1>", "<Idle|FS:a,b>", "<Idle|nofield>"} {
		if _, err := parseStatus(bad, &wco); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add("<Run|MPos:10.000,5.500,-1.000|Bf:12,96|Ln:42|FS:3000,800|Pn:XD|WCO:1.000,2.000,0.000|A:C>")
	f.Add("<Door:1|WPos:1,1,0|Ov:1,2,3>")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) < 2 {
			return
		}
		var wco [3]float64
		parseStatus("<"+s[1:len(s)-1]+">", &wco)
	})
}

// quietConn hides what the controller says until the driver has sent
// something: a controller that was powered before the port was opened.
type quietConn struct {
	net.Conn
	mu     sync.Mutex
	spoken bool
}

func (q *quietConn) Read(b []byte) (int, error) {
	n, err := q.Conn.Read(b)
	if n > 0 {
		q.mu.Lock()
		q.spoken = true
		q.mu.Unlock()
	}
	return n, err
}

func (q *quietConn) Write(b []byte) (int, error) {
	q.mu.Lock()
	spoken := q.spoken
	q.mu.Unlock()
	if !spoken {
		return len(b), nil
	}
	return q.Conn.Write(b)
}

func TestHandshakeResetsWhenNoBanner(t *testing.T) {
	t.Parallel()
	sim, err := grblsim.New(grblsim.Config{TimeScale: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sim.ServeConn(ctx, &quietConn{Conn: a})
	start := time.Now()
	c, err := New(ctx, b, Options{HandshakeTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Info().Version != grblsim.Version || sim.Stats().Resets < 2 {
		t.Fatalf("info %+v, resets %d", c.Info(), sim.Stats().Resets)
	}
	t.Logf("handshake with a soft reset took %v", time.Since(start).Round(time.Millisecond))
}

func TestHandshakeFailsOnSilentDevice(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	go func() { // a device that reads and never answers
		buf := make([]byte, 64)
		for {
			if _, err := a.Read(buf); err != nil {
				return
			}
		}
	}()
	_, err := New(context.Background(), b, Options{HandshakeTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrNotGRBL) {
		t.Fatalf("got %v, want ErrNotGRBL", err)
	}
}

func TestLaserModeRequired(t *testing.T) {
	t.Parallel()
	_, addr := startSim(t, grblsim.Config{TimeScale: 100, Settings: map[int]float64{32: 0}})
	if _, err := Dial(context.Background(), addr, Options{}); !errors.Is(err, ErrNotLaserMode) || qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
		t.Fatalf("got %v, want ErrNotLaserMode", err)
	}
	c, err := Dial(context.Background(), addr, Options{AllowNonLaser: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestCancelKeepsPositionAndLaserOff(t *testing.T) {
	t.Parallel()
	sim, addr := startSim(t, grblsim.Config{TimeScale: 20})
	c := dial(t, addr)
	p := longProgram(t, c)
	errc := make(chan error, 1)
	go func() { errc <- c.Stream(context.Background(), p.Lines, nil) }()
	for !sim.LaserOn() {
		time.Sleep(5 * time.Millisecond)
	}
	taken := sim.Stats().GcodeLines
	if err := c.Cancel(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrCanceled) {
		t.Fatalf("stream: got %v, want ErrCanceled", err)
	}
	st, err := c.Status(context.Background())
	if err != nil || st.State != "Idle" || st.LaserOn() || sim.LaserOn() {
		t.Fatalf("after cancel: %+v %v (a hold before the reset keeps the machine out of alarm)", st, err)
	}
	if c.NeedsHoming() {
		t.Fatal("cancel lost the position")
	}
	if n := sim.Stats().GcodeLines; n > taken+64 {
		t.Fatalf("%d lines taken after the cancel began", n-taken)
	}
	// The context cancels too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for !sim.LaserOn() {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	if err := c.Stream(ctx, p.Lines, nil); !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("stream with cancelled context: got %v", err)
	}
	if err := c.Stream(context.Background(), []string{"G0 X1", "G0 X0"}, nil); err != nil {
		t.Fatalf("job after cancel: %v", err)
	}
}

func TestStreamRejectsUnsafeLines(t *testing.T) {
	t.Parallel()
	sim, addr := startSim(t, grblsim.Config{TimeScale: 100})
	c := dial(t, addr)
	for _, lines := range [][]string{{"G0 X1", "G0 X2?"}, {"$H"}, {"G0 X1\n"}, {"G0 X1!"}, {strings.Repeat("G0X1", 20)}, {"G0 X\x18"}, {"G0 X1 (ü)"}} {
		if err := c.Stream(context.Background(), lines, nil); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("%q: got %v, want EINVALID", lines, err)
		}
	}
	if n := sim.Stats().GcodeLines; n != 0 {
		t.Fatalf("%d lines reached the controller", n)
	}
}

func TestPollRate(t *testing.T) {
	t.Parallel()
	sim, addr := startSim(t, grblsim.Config{TimeScale: 100})
	c := dial(t, addr)
	before := sim.Stats().StatusReports
	time.Sleep(2 * time.Second)
	n := sim.Stats().StatusReports - before
	if n < 8 || n > 11 {
		t.Fatalf("%d status queries in 2 s, want about 10 (5 Hz)", n)
	}
	if st := c.LastStatus(); st.State != "Idle" || time.Since(st.At) > 400*time.Millisecond {
		t.Fatalf("last status %+v", st)
	}
}
