package main

// command:remote:Command over SSH, with connection reuse.
//
// Upstream pulumi-command dials a new SSH connection for every command (and
// never closes it). Here connections are pooled per connection spec (host,
// port, user, credentials, host key, proxy) for the life of the provider
// process: each command is one SSH session on a pooled connection. A
// connection carries at most maxSessionsPerConn commands at once (OpenSSH's
// default MaxSessions is 10); more parallel commands open more connections.
// A connection idle for more than idleCheck is probed with a keepalive request
// before reuse; a broken one is dropped and redialed (with the dial retries).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const (
	dialErrorDefault   = 10
	maxSessionsPerConn = 8
	idleCheck          = 10 * time.Second
	keepaliveTimeout   = 5 * time.Second
)

type connSpec struct {
	host, user                               string
	port                                     int
	password, privateKey, privateKeyPassword *string
	agentSocketPath, hostKey                 *string
	dialErrorLimit, perDialTimeout           int
	proxy                                    *connSpec
}

func (c *connSpec) endpoint() string {
	return net.JoinHostPort(c.host, fmt.Sprint(c.port))
}

func (c *connSpec) String() string {
	return c.user + "@" + c.endpoint()
}

// key identifies a pooled connection: everything that decides where and as whom
// we are connected (secrets are hashed, never kept as the key).
func (c *connSpec) key() string {
	h := sha256.New()
	var write func(*connSpec)
	write = func(c *connSpec) {
		opt := func(s *string) string {
			if s == nil {
				return "\x00nil"
			}
			return *s
		}
		fmt.Fprintf(h, "%q|%q|%d|%q|%q|%q|%q|%q|%d\n", c.host, c.user, c.port, opt(c.password),
			opt(c.privateKey), opt(c.privateKeyPassword), opt(c.agentSocketPath), opt(c.hostKey), c.perDialTimeout)
		if c.proxy != nil {
			h.Write([]byte("proxy:"))
			write(c.proxy)
		}
	}
	write(c)
	return hex.EncodeToString(h.Sum(nil))
}

func parseConnection(v resource.PropertyValue) (*connSpec, error) {
	v = plain(v)
	if v.IsComputed() {
		return nil, errors.New("connection is unknown")
	}
	if !v.IsObject() {
		return nil, errors.New("connection: expected an object")
	}
	return parseConnMap(v.ObjectValue(), "connection")
}

func parseConnMap(m resource.PropertyMap, path string) (*connSpec, error) {
	str := func(k string) *string {
		v := plain(m[resource.PropertyKey(k)])
		if v.IsString() {
			s := v.StringValue()
			return &s
		}
		return nil
	}
	num := func(k string, def int) int {
		v := plain(m[resource.PropertyKey(k)])
		if v.IsNumber() {
			return int(v.NumberValue())
		}
		return def
	}
	c := &connSpec{
		user:               "root",
		port:               num("port", 22),
		password:           str("password"),
		privateKey:         str("privateKey"),
		privateKeyPassword: str("privateKeyPassword"),
		agentSocketPath:    str("agentSocketPath"),
		hostKey:            str("hostKey"),
		dialErrorLimit:     num("dialErrorLimit", dialErrorDefault),
		perDialTimeout:     num("perDialTimeout", 15),
	}
	if h := str("host"); h != nil && *h != "" {
		c.host = *h
	} else {
		return nil, fmt.Errorf("%s.host is required", path)
	}
	if u := str("user"); u != nil {
		c.user = *u
	}
	if px := plain(m["proxy"]); px.IsObject() {
		p, err := parseConnMap(px.ObjectValue(), path+".proxy")
		if err != nil {
			return nil, err
		}
		c.proxy = p
	}
	return c, nil
}

// clientConfig builds the SSH client configuration like upstream: private key
// first, then password (and keyboard-interactive with it), then the agent
// (agentSocketPath, else $SSH_AUTH_SOCK). hostKey, when set, pins the host key.
func (c *connSpec) clientConfig() (*ssh.ClientConfig, error) {
	cfg := &ssh.ClientConfig{
		User:            c.user,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         time.Duration(c.perDialTimeout) * time.Second,
	}
	if c.hostKey != nil && strings.TrimSpace(*c.hostKey) != "" {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.hostKey))
		if err != nil {
			return nil, fmt.Errorf("hostKey for %s: %w", c.endpoint(), err)
		}
		cfg.HostKeyCallback = ssh.FixedHostKey(pk)
		cfg.HostKeyAlgorithms = []string{pk.Type()}
		if pk.Type() == ssh.KeyAlgoRSA {
			cfg.HostKeyAlgorithms = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
	}
	if c.privateKey != nil {
		var signer ssh.Signer
		var err error
		if c.privateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.privateKey), []byte(*c.privateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.privateKey))
		}
		if err != nil {
			return nil, fmt.Errorf("privateKey for %s: %w", c.String(), err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.password != nil {
		pw := *c.password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	sock := ""
	if c.agentSocketPath != nil {
		sock = *c.agentSocketPath
	} else {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("ssh agent at %s: %w", sock, err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return cfg, nil
}

// dialWithRetry calls f until it succeeds or dialErrorLimit errors were
// exceeded (-1: unlimited), with the sdk's retry backoff (100 ms x1.5, at most
// 5 s apart), like upstream.
func dialWithRetry[T any](ctx context.Context, p *provider, urn, what string, limit int, f func() (T, error)) (T, error) {
	var zero T
	var lastErr error
	dials := 0
	ok, data, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			res, err := f()
			dials++
			if err == nil {
				return true, res, nil
			}
			lastErr = err
			if limit > -1 && dials > limit {
				return true, nil, fmt.Errorf("%s: after %d failed attempts: %w", what, dials, err)
			}
			lim := "inf"
			if limit > -1 {
				lim = fmt.Sprint(limit)
			}
			p.engine.log(ctx, pulumirpc.LogSeverity_INFO, urn, fmt.Sprintf("%s %d/%s failed: retrying", what, dials, lim), true)
			return false, nil, nil
		},
	})
	if ok && err == nil {
		return data.(T), nil
	}
	if err == nil {
		err = ctx.Err()
		if lastErr != nil {
			err = fmt.Errorf("%s: %w (last error: %v)", what, err, lastErr)
		}
	}
	return zero, err
}

// dialOnce dials the endpoint over dialer (nil: TCP) and does the SSH handshake,
// both bounded by perDialTimeout.
func dialOnce(ctx context.Context, via *ssh.Client, c *connSpec, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	timeout := time.Duration(c.perDialTimeout) * time.Second
	dctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var conn net.Conn
	var err error
	if via == nil {
		conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", c.endpoint())
	} else {
		conn, err = via.DialContext(dctx, "tcp", c.endpoint())
	}
	if err != nil {
		return nil, err
	}
	if dl, ok := dctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, c.endpoint(), cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// ---- the pool ---------------------------------------------------------------

type pooledConn struct {
	client   *ssh.Client
	proxy    *ssh.Client
	sessions int
	capacity int
	lastUsed time.Time
	dead     bool
	single   bool // not pooled (HA_COMMAND_SSH_REUSE=0): closed after its command
}

// reuseConnections is on unless HA_COMMAND_SSH_REUSE=0 (one connection per
// command, as upstream does; kept for measuring and for debugging).
var reuseConnections = os.Getenv("HA_COMMAND_SSH_REUSE") != "0"

func (pc *pooledConn) close() {
	pc.client.Close()
	if pc.proxy != nil {
		pc.proxy.Close()
	}
}

type dialCall struct {
	done chan struct{}
	err  error
}

type sshPool struct {
	mu      sync.Mutex
	conns   map[string][]*pooledConn
	dialing map[string]*dialCall
	dials   int // connections opened (for the debug log)
}

func newSSHPool() *sshPool {
	return &sshPool{conns: map[string][]*pooledConn{}, dialing: map[string]*dialCall{}}
}

func (pl *sshPool) closeAll() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, list := range pl.conns {
		for _, pc := range list {
			pc.close()
		}
	}
	pl.conns = map[string][]*pooledConn{}
}

// acquire returns a connection with a free session slot, dialing one if needed.
// Concurrent callers for the same spec share one dial.
func (p *provider) acquire(ctx context.Context, c *connSpec, urn string) (*pooledConn, error) {
	pl := p.pool
	key := c.key()
	if !reuseConnections {
		pc, err := p.dial(ctx, c, urn)
		if err != nil {
			return nil, err
		}
		pc.sessions, pc.capacity, pc.single = 1, 1, true
		return pc, nil
	}
	for {
		pl.mu.Lock()
		var found *pooledConn
		for _, pc := range pl.conns[key] {
			if !pc.dead && pc.sessions < pc.capacity {
				found = pc
				break
			}
		}
		if found != nil {
			found.sessions++
			idle := time.Since(found.lastUsed)
			pl.mu.Unlock()
			if idle > idleCheck && !alive(found.client) {
				pl.release(key, found, true)
				continue
			}
			return found, nil
		}
		if d, ok := pl.dialing[key]; ok {
			pl.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.err != nil {
				return nil, d.err
			}
			continue
		}
		d := &dialCall{done: make(chan struct{})}
		pl.dialing[key] = d
		pl.mu.Unlock()

		pc, err := p.dial(ctx, c, urn)
		pl.mu.Lock()
		delete(pl.dialing, key)
		d.err = err
		if err == nil {
			pl.dials++
			pc.sessions = 1
			pl.conns[key] = append(pl.conns[key], pc)
		}
		close(d.done)
		pl.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return pc, nil
	}
}

// release gives a session slot back; a broken connection is dropped (and
// closed once its last session is done).
func (pl *sshPool) release(key string, pc *pooledConn, broken bool) {
	if pc.single {
		go pc.close()
		return
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pc.sessions--
	pc.lastUsed = time.Now()
	if broken && !pc.dead {
		pc.dead = true
		list := pl.conns[key]
		for i, x := range list {
			if x == pc {
				pl.conns[key] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
	}
	if pc.dead && pc.sessions <= 0 {
		go pc.close()
	}
}

func alive(c *ssh.Client) bool {
	res := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		res <- err
	}()
	select {
	case err := <-res:
		return err == nil
	case <-time.After(keepaliveTimeout):
		return false
	}
}

func (p *provider) dial(ctx context.Context, c *connSpec, urn string) (*pooledConn, error) {
	cfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	if c.proxy == nil {
		client, err := dialWithRetry(ctx, p, urn, "Dial "+c.String(), c.dialErrorLimit, func() (*ssh.Client, error) {
			return dialOnce(ctx, nil, c, cfg)
		})
		if err != nil {
			return nil, err
		}
		return &pooledConn{client: client, capacity: maxSessionsPerConn, lastUsed: time.Now()}, nil
	}
	pcfg, err := c.proxy.clientConfig()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	proxy, err := dialWithRetry(ctx, p, urn, "Dial proxy "+c.proxy.String(), c.proxy.dialErrorLimit, func() (*ssh.Client, error) {
		return dialOnce(ctx, nil, c.proxy, pcfg)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	client, err := dialWithRetry(ctx, p, urn, "Dial "+c.String()+" via proxy "+c.proxy.String(), c.dialErrorLimit,
		func() (*ssh.Client, error) { return dialOnce(ctx, proxy, c, cfg) })
	if err != nil {
		proxy.Close()
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return &pooledConn{client: client, proxy: proxy, capacity: maxSessionsPerConn, lastUsed: time.Now()}, nil
}

// ---- running a command --------------------------------------------------------

func (p *provider) runRemote(ctx context.Context, c *connSpec, spec runSpec) (string, string, error) {
	key := c.key()
	var session *ssh.Session
	var pc *pooledConn
	for attempt := 0; ; attempt++ {
		var err error
		pc, err = p.acquire(ctx, c, spec.urn)
		if err != nil {
			return "", "", err
		}
		session, err = pc.client.NewSession()
		if err == nil {
			break
		}
		var openErr *ssh.OpenChannelError
		if errors.As(err, &openErr) {
			// The server refused another session on this connection (its
			// MaxSessions is lower than ours): use this one for fewer.
			p.pool.mu.Lock()
			if pc.capacity > 1 {
				pc.capacity = max(1, pc.sessions-1)
			}
			p.pool.mu.Unlock()
			p.pool.release(key, pc, pc.capacity <= 1 && attempt > 0)
		} else {
			p.pool.release(key, pc, true) // connection broken: redial
		}
		if attempt >= 3 {
			return "", "", fmt.Errorf("opening a session on %s: %w", c, err)
		}
	}
	broken := false
	defer func() { p.pool.release(key, pc, broken) }()
	defer session.Close()

	for _, kv := range spec.env {
		if err := session.Setenv(kv[0], kv[1]); err != nil {
			p.engine.log(ctx, pulumirpc.LogSeverity_ERROR, spec.urn, setenvMessage(kv[0]), false)
			return "", "", fmt.Errorf("could not set environment variable %q: %w", kv[0], err)
		}
	}
	for _, kv := range spec.prevEnv {
		if err := session.Setenv(kv[0], kv[1]); err != nil {
			p.engine.log(ctx, pulumirpc.LogSeverity_WARNING, spec.urn, setenvMessage(kv[0]), false)
		}
	}
	if spec.stdin != "" {
		session.Stdin = strings.NewReader(spec.stdin)
	}
	capt := newCapture(ctx, p, spec)
	session.Stdout, session.Stderr = capt.outW, capt.errW

	done := make(chan error, 1)
	go func() { done <- session.Run(spec.command) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGTERM)
		session.Close()
		err = fmt.Errorf("cancelled: %w", ctx.Err())
		broken = true
	}
	capt.finish()
	if err != nil {
		var exitErr *ssh.ExitError
		if !errors.As(err, &exitErr) {
			broken = true // the connection died under the command (reboot, network)
		}
		return "", "", fmt.Errorf("%w: running %s on %s:\n%s", err, spec.commandShown, c, capt.tail())
	}
	return capt.stdout.String(), capt.stderr.String(), nil
}

func setenvMessage(key string) string {
	return fmt.Sprintf(`Unable to set '%s'. This only works if your SSH server is configured to accept
	these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could
	prefix the command itself with the variables in the form 'VAR=value command'`, key)
}
