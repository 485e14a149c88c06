// Package mail delivers tenancy's outbox over SMTP. Messages are written to tenancy.outbox in
// the transaction of the change that causes them (store.EnqueueMail); the Sender claims due
// messages, sends each, and retries failures with backoff, so a mail server that is down
// delays mail but loses none, and a rolled-back change sends nothing.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"atrium.dev/services/tenancy/internal/store"
)

// Config of a Sender.
type Config struct {
	Store *store.Store
	// URL is the SMTP server: smtp://[user:password@]host:port. Empty: mail stays queued.
	URL string
	// From is the envelope and header sender (default "Atrium <no-reply@atrium.localhost>").
	From string
	// MaxAttempts before a message is given up (default 8); backoff doubles from 1 s, to 10 min.
	MaxAttempts int
	// Poll is how often the outbox is looked at when nothing woke the sender (default 2 s).
	Poll time.Duration
	Log  *slog.Logger
}

// Sender delivers the outbox. Wake tells it a message was just committed.
type Sender struct {
	cfg  Config
	addr string
	auth smtp.Auth
	host string
	wake chan struct{}
}

// New checks cfg.
func New(cfg Config) (*Sender, error) {
	if cfg.From == "" {
		cfg.From = "Atrium <no-reply@atrium.localhost>"
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Sender{cfg: cfg, wake: make(chan struct{}, 1)}
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil || u.Scheme != "smtp" || u.Host == "" {
			return nil, fmt.Errorf("mail: SMTP URL %q: want smtp://[user:password@]host:port", cfg.URL)
		}
		s.addr, s.host = u.Host, u.Hostname()
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			s.addr = net.JoinHostPort(u.Host, "25")
		}
		if u.User != nil {
			pw, _ := u.User.Password()
			s.auth = smtp.PlainAuth("", u.User.Username(), pw, s.host)
		}
	}
	return s, nil
}

// Wake asks for an outbox pass now (after a commit that queued mail). It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Without an SMTP URL it does nothing: mail stays queued.
func (s *Sender) Run(ctx context.Context) {
	if s.addr == "" {
		return
	}
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		for s.pass(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// lease is how long a claimed message is left alone by other senders.
const lease = time.Minute

// pass sends one batch; it reports whether there may be more.
func (s *Sender) pass(ctx context.Context) bool {
	ms, err := s.cfg.Store.ClaimMail(ctx, 20, lease)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.WarnContext(ctx, "mail: claim", "err", err)
		}
		return false
	}
	for _, m := range ms {
		err := s.send(ctx, m)
		wctx := context.WithoutCancel(ctx)
		if err == nil {
			if err := s.cfg.Store.MailSent(wctx, m.ID); err != nil {
				s.cfg.Log.WarnContext(ctx, "mail: record sent", "id", m.ID, "err", err)
			}
			continue
		}
		final := m.Attempts >= s.cfg.MaxAttempts
		s.cfg.Log.WarnContext(ctx, "mail: send failed", "id", m.ID, "attempt", m.Attempts, "final", final, "err", err)
		if err := s.cfg.Store.MailFailed(wctx, m.ID, truncate(err.Error(), 500), Backoff(m.Attempts), final); err != nil {
			s.cfg.Log.WarnContext(ctx, "mail: record failure", "id", m.ID, "err", err)
		}
	}
	return len(ms) == 20
}

// Backoff is the wait after attempt n (1-based): 1 s, 2 s, 4 s ... at most 10 minutes.
func Backoff(n int) time.Duration {
	d := time.Second << min(max(n-1, 0), 20)
	return min(d, 10*time.Minute)
}

func (s *Sender) send(ctx context.Context, m store.Mail) error {
	if strings.ContainsAny(m.Recipient, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("header injection refused")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && s.auth != nil {
		return errors.New("mail: STARTTLS servers with credentials are not supported yet")
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return err
		}
	}
	from := s.cfg.From
	if i := strings.IndexByte(from, '<'); i >= 0 {
		from = strings.TrimSuffix(from[i+1:], ">")
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(m.Recipient); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	msg := "From: " + s.cfg.From + "\r\nTo: " + m.Recipient + "\r\nSubject: " + m.Subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nX-Atrium-Kind: " + m.Kind +
		"\r\nX-Atrium-Tenant: " + m.TenantID + "\r\n\r\n" + strings.ReplaceAll(m.Body, "\n", "\r\n")
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
