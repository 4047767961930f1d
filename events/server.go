package events

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions are an embedded NATS server's settings.
type ServerOptions struct {
	Name string // unique in a cluster
	Dir  string // JetStream's storage folder
	Addr string // host:port for clients (port 0: any free one)
	// Cluster, for one of several servers: the cluster's name, this
	// server's route address and the other servers' route URLs
	// (nats-route://host:port).
	Cluster     string
	ClusterAddr string
	Routes      []string
}

// Server is an embedded NATS server with JetStream.
type Server struct{ s *server.Server }

// StartServer starts an embedded NATS server with JetStream and waits
// until it takes connections.
func StartServer(o ServerOptions) (*Server, error) {
	host, port, err := splitAddr(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("NATS address %q: %w", o.Addr, err)
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.Dir,
		NoSigs:     true,
		MaxPayload: 1 << 20,
	}
	if port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if o.Cluster != "" {
		ch, cp, err := splitAddr(o.ClusterAddr)
		if err != nil {
			return nil, fmt.Errorf("NATS cluster address %q: %w", o.ClusterAddr, err)
		}
		opts.Cluster = server.ClusterOpts{Name: o.Cluster, Host: ch, Port: cp}
		for _, r := range o.Routes {
			opts.Routes = append(opts.Routes, server.RoutesFromStr(r)...)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("NATS server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("the NATS server did not take connections within 30 s")
	}
	return &Server{s: s}, nil
}

// URL is the server's client URL.
func (s *Server) URL() string { return s.s.ClientURL() }

// Shutdown stops the server and waits for it.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}

// Wait returns once the server has stopped.
func (s *Server) Wait() { s.s.WaitForShutdown() }

func splitAddr(addr string) (string, int, error) {
	if addr == "" {
		return "127.0.0.1", 0, nil
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q: a number from 0 to 65535", p)
	}
	return h, n, nil
}
