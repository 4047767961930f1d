// Package netguard makes outgoing HTTP requests to addresses users give
// Reel (webhook endpoints, masters to ingest) safe from server-side
// request forgery: a request may reach only public addresses, checked
// after DNS resolution on every connection, redirects included, unless an
// operator allows a network.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// blocked are the networks a request may not reach unless allowed:
// loopback, private, link-local (cloud metadata at 169.254.169.254 and
// fd00:ec2::254 among them), carrier-grade NAT, unspecified, multicast,
// benchmarking, documentation and reserved ranges.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
		"fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Policy says which addresses a request may reach.
type Policy struct {
	// Allow lists networks reachable although they are not public (a
	// webhook receiver on the operator's own network).
	Allow []netip.Prefix
}

// ParseAllow reads a comma-separated list of networks (CIDR) or
// addresses.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or a network (CIDR, such as 10.1.0.0/16)", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network (CIDR, such as 10.1.0.0/16)", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ErrForbidden is wrapped by the errors of requests to addresses the
// policy does not allow.
var ErrForbidden = errors.New("address not allowed")

// Check returns an error wrapping ErrForbidden for an address a request
// may not reach.
func (p *Policy) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, a := range p.Allow {
		if a.Contains(ip) {
			return nil
		}
	}
	for _, b := range blocked {
		if b.Contains(ip) {
			return fmt.Errorf("%w: %s is in %s, a network that is not public (an operator can allow it)", ErrForbidden, ip, b)
		}
	}
	return nil
}

// CheckURL checks what a URL a user gives looks like (http or https, a
// host, no credentials) and that every address its host resolves to now
// is allowed; a request checks again on every connection.
func (p *Policy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL with a host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q carries credentials in the URL; they would be sent in the clear to every redirect, so they are refused", u.Redacted())
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("%s does not resolve: %v", host, err)
		}
		addrs = ips
	}
	for _, a := range addrs {
		if err := p.Check(a); err != nil {
			return nil, fmt.Errorf("%s: %w", host, err)
		}
	}
	return u, nil
}

// MaxRedirects is how many redirects a guarded client follows.
const MaxRedirects = 5

// Client returns an HTTP client that connects only where the policy
// allows (checked on the resolved address of each connection, so a
// redirect or a DNS answer that changes cannot reach further), follows at
// most MaxRedirects redirects to http or https URLs, uses no proxy and
// gives up after timeout.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrForbidden, address)
		}
		return p.Check(ap.Addr())
	}}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext, ForceAttemptHTTP2: true,
			TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("more than %d redirects", MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: a redirect to %s", ErrForbidden, req.URL.Redacted())
			}
			return nil
		},
	}
}
