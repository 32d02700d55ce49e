package gittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHServer serves a Server's repositories over SSH, running the real git-upload-pack and
// git-receive-pack for each session, so hooks run as they do over HTTP. It accepts public-key
// authentication only, for the keys it was started with.
type SSHServer struct {
	// Addr is the listening address, 127.0.0.1:PORT.
	Addr string
	// HostKey is the server's host key.
	HostKey ssh.PublicKey
	// KnownHosts is a known_hosts file that lists HostKey for Addr.
	KnownHosts string

	git        *Server
	authorized map[string]bool
	l          net.Listener
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      map[net.Conn]bool
	closed     bool
}

// StartSSH serves s's repositories over SSH on 127.0.0.1 until the test ends, accepting
// clients that authenticate with one of the authorized keys.
func (s *Server) StartSSH(t testing.TB, authorized ...ssh.PublicKey) *SSHServer {
	t.Helper()
	ss, err := s.ListenSSH("127.0.0.1:0", authorized...)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	return ss
}

// ListenSSH is StartSSH outside tests; call Close when done.
func (s *Server) ListenSSH(addr string, authorized ...ssh.PublicKey) (*SSHServer, error) {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	ss := &SSHServer{git: s, authorized: map[string]bool{}, conns: map[net.Conn]bool{}, HostKey: signer.PublicKey()}
	for _, k := range authorized {
		ss.authorized[string(k.Marshal())] = true
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if ss.authorized[string(key.Marshal())] {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("unknown public key")
		},
	}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	ss.l, ss.Addr = l, l.Addr().String()
	ss.KnownHosts = filepath.Join(s.home, "known_hosts_"+strings.NewReplacer(":", "_", ".", "_").Replace(ss.Addr))
	line := knownhosts.Line([]string{knownhosts.Normalize(ss.Addr)}, ss.HostKey) + "\n"
	if err := os.WriteFile(ss.KnownHosts, []byte(line), 0o600); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("write known_hosts: %w", err)
	}
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !ss.track(c, true) {
				_ = c.Close()
				return
			}
			ss.wg.Add(1)
			go func() {
				defer ss.wg.Done()
				defer ss.track(c, false)
				ss.serve(c, cfg)
			}()
		}
	}()
	return ss, nil
}

// RepoURL returns the ssh:// URL of the repository called name.
func (ss *SSHServer) RepoURL(name string) string { return "ssh://git@" + ss.Addr + "/" + name + ".git" }

// Close stops accepting, closes open connections and waits for their sessions to end.
func (ss *SSHServer) Close() error {
	ss.mu.Lock()
	ss.closed = true
	for c := range ss.conns {
		_ = c.Close()
	}
	ss.mu.Unlock()
	err := ss.l.Close()
	ss.wg.Wait()
	return err
}

func (ss *SSHServer) track(c net.Conn, add bool) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if add {
		if ss.closed {
			return false
		}
		ss.conns[c] = true
	} else {
		delete(ss.conns, c)
	}
	return true
}

func (ss *SSHServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		ss.wg.Add(1)
		go func() {
			defer ss.wg.Done()
			ss.session(ch, creqs)
		}()
	}
}

// session runs one "exec git-upload-pack '/name.git'" (or receive-pack) request.
func (ss *SSHServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var protocol string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if err := ssh.Unmarshal(req.Payload, &kv); err == nil && kv.Name == "GIT_PROTOCOL" {
				protocol = kv.Value
				_ = req.Reply(true, nil)
				continue
			}
			_ = req.Reply(false, nil)
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			status := ss.exec(ch, p.Command, protocol)
			_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(status)))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

func (ss *SSHServer) exec(ch ssh.Channel, command, protocol string) int {
	verb, arg, _ := strings.Cut(command, " ")
	var service string
	switch verb {
	case "git-upload-pack", "git-receive-pack":
		service = strings.TrimPrefix(verb, "git-")
	default:
		fmt.Fprintf(ch.Stderr(), "gittest: only git-upload-pack and git-receive-pack are served\n")
		return 1
	}
	name := strings.TrimSuffix(strings.TrimPrefix(strings.Trim(arg, "'"), "/"), ".git")
	if !nameRE.MatchString(name) {
		fmt.Fprintf(ch.Stderr(), "gittest: invalid repository path %q\n", arg)
		return 1
	}
	dir := ss.git.RepoDir(name)
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: '%s' does not appear to be a git repository\n", arg)
		return 128
	}
	if service == "receive-pack" {
		ss.git.mu.Lock()
		ss.git.pushes[name]++
		ss.git.mu.Unlock()
	}
	cmd := exec.Command("git", service, dir)
	cmd.Env = ss.git.env()
	if protocol != "" {
		cmd.Env = append(cmd.Env, "GIT_PROTOCOL="+protocol)
	}
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	// Not cmd.Stdin = ch: Wait would then wait for the client to close its side, while the
	// client may be waiting for our exit status.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		return 1
	}
	return 0
}
