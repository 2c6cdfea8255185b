package grbl

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"

	"go.bug.st/serial"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// DefaultAllowedNetworks returns the networks a zero Dialer may reach:
// loopback only. List the engravers' subnets in Dialer.AllowedNetworks.
func DefaultAllowedNetworks() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Resolver resolves host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer opens connections to controllers. TCP addresses must resolve, all
// of them, into AllowedNetworks, so a machine address entered by a user
// cannot be used to reach arbitrary internal hosts; the connection goes to
// the checked address, not to a second lookup of the name.
type Dialer struct {
	// AllowedNetworks are the networks TCP controllers may be in; nil means
	// DefaultAllowedNetworks.
	AllowedNetworks []netip.Prefix
	// Resolver looks host names up; nil means net.DefaultResolver.
	Resolver Resolver
}

// Dial connects with a zero Dialer (loopback only) and opts. See (*Dialer).Dial.
func Dial(ctx context.Context, addr string, opts Options) (*Conn, error) {
	return (&Dialer{}).Dial(ctx, addr, opts)
}

// Address is a parsed controller address.
type Address struct {
	Network string // "tcp" or "serial"
	Host    string // tcp: host:port
	Path    string // serial: device path
	Baud    int    // serial: baud rate
}

// ParseAddress parses tcp://host:port or serial:///dev/ttyUSB0?baud=115200
// (baud defaults to 115200).
func ParseAddress(addr string) (Address, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return Address{}, qrmfg.FieldError("address", "%q is not a controller address: %v", addr, err)
	}
	switch u.Scheme {
	case "tcp":
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" || u.Path != "" || u.RawQuery != "" {
			return Address{}, qrmfg.FieldError("address", "%q: expected tcp://host:port", addr)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return Address{}, qrmfg.FieldError("address", "%q: port must be 1..65535", addr)
		}
		return Address{Network: "tcp", Host: u.Host}, nil
	case "serial":
		p := u.Path
		if u.Host != "" || p == "" || path.Clean(p) != p || !strings.HasPrefix(p, "/dev/") {
			return Address{}, qrmfg.FieldError("address", "%q: expected serial:///dev/<device>?baud=115200", addr)
		}
		baud := 115200
		if b := u.Query().Get("baud"); b != "" {
			baud, err = strconv.Atoi(b)
			if err != nil || baud < 1200 || baud > 4_000_000 {
				return Address{}, qrmfg.FieldError("address", "%q: baud must be 1200..4000000", addr)
			}
		}
		return Address{Network: "serial", Path: p, Baud: baud}, nil
	}
	return Address{}, qrmfg.FieldError("address", "%q: scheme must be tcp:// or serial://", addr)
}

// CheckTCP resolves host:port and returns the address to dial, or an
// EFORBIDDEN error when any resolved address is outside AllowedNetworks.
func (d *Dialer) CheckTCP(ctx context.Context, hostport string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, qrmfg.FieldError("address", "%q: %v", hostport, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, qrmfg.FieldError("address", "%q: bad port", hostport)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := d.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		addrs, err = r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return netip.AddrPort{}, &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Field: "address",
				Message: fmt.Sprintf("cannot resolve controller host %q", host), Err: err}
		}
		if len(addrs) == 0 {
			return netip.AddrPort{}, qrmfg.Errorf(qrmfg.EUNAVAILABLE, "controller host %q has no address", host)
		}
	}
	allowed := d.AllowedNetworks
	if allowed == nil {
		allowed = DefaultAllowedNetworks()
	}
	for _, a := range addrs {
		a = a.Unmap()
		ok := false
		for _, p := range allowed {
			if p.Contains(a) {
				ok = true
				break
			}
		}
		if !ok {
			e := qrmfg.Errorf(qrmfg.EFORBIDDEN, "controller address %s (from %q) is outside the allowed networks for engravers", a, host)
			e.Field = "address"
			return netip.AddrPort{}, e
		}
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(p)), nil
}

// Dial opens addr (tcp://host:port or serial:///dev/...), performs the GRBL
// handshake and returns the connection. Errors: EINVALID for a malformed
// address, EFORBIDDEN for a TCP address outside the allow-list,
// EUNAVAILABLE when the controller cannot be reached or does not answer
// like GRBL, ECONFLICT when laser mode is off.
func (d *Dialer) Dial(ctx context.Context, addr string, opts Options) (*Conn, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	var rw io.ReadWriteCloser
	switch a.Network {
	case "tcp":
		ap, err := d.CheckTCP(ctx, a.Host)
		if err != nil {
			return nil, err
		}
		var nd net.Dialer
		c, err := nd.DialContext(ctx, "tcp", ap.String())
		if err != nil {
			return nil, &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "cannot connect to the controller at " + addr, Err: err}
		}
		rw = c
	case "serial":
		p, err := serial.Open(a.Path, &serial.Mode{BaudRate: a.Baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
		if err != nil {
			return nil, &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "cannot open the serial port " + a.Path, Err: err}
		}
		rw = p
	}
	return New(ctx, rw, opts)
}
