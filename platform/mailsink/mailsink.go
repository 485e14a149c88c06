// Package mailsink is a local SMTP server that keeps every message in memory instead of
// delivering it: real SMTP on loopback, so tenancy's sender is exercised exactly as against a
// real relay. devstack runs one (make up shows its messages at /_dev/mail) and tests read
// invitation and reset links from it. It is for development and tests only; it accepts any
// sender and recipient and no authentication.
package mailsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one received message.
type Message struct {
	ID      int               `json:"id"`
	At      time.Time         `json:"at"`
	From    string            `json:"from"`
	To      []string          `json:"to"`
	Subject string            `json:"subject"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// Sink is a running SMTP server.
type Sink struct {
	srv  *smtp.Server
	ln   net.Listener
	addr string

	mu      sync.Mutex
	msgs    []Message
	next    int
	changed chan struct{}
	// Fail, when set, answers each DATA with an error while it returns one (retry tests).
	fail func() error
}

// maxKept bounds memory: the oldest messages are dropped past it.
const maxKept = 1000

// Start listens on addr ("127.0.0.1:0" for a free port) and serves until Close.
func Start(addr string) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, addr: ln.Addr().String(), changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{sink: s}, nil }))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 50
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv = srv
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

// Addr is host:port of the SMTP listener.
func (s *Sink) Addr() string { return s.addr }

// URL is the smtp:// URL to configure a sender with (ATRIUM_SMTP_URL).
func (s *Sink) URL() string { return "smtp://" + s.addr }

// Close stops the server.
func (s *Sink) Close() error { return s.srv.Close() }

// SetFailure makes deliveries fail while f returns an error (nil f: accept again).
func (s *Sink) SetFailure(f func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// Messages returns a copy of the received messages, oldest first.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait returns the first message (oldest first) to one of the recipients (case-insensitive)
// whose subject contains subject, waiting until one arrives or ctx ends.
func (s *Sink) Wait(ctx context.Context, to, subject string) (Message, error) {
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if m.matches(to, subject) {
				s.mu.Unlock()
				return m, nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Message{}, errors.New("mailsink: no message to " + to + " about " + subject + ": " + ctx.Err().Error())
		case <-ch:
		}
	}
}

// WaitCount waits until at least n messages match (to, subject) and returns them all.
func (s *Sink) WaitCount(ctx context.Context, to, subject string, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		var got []Message
		for _, m := range s.msgs {
			if m.matches(to, subject) {
				got = append(got, m)
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, errors.New("mailsink: fewer than expected messages to " + to + ": " + ctx.Err().Error())
		case <-ch:
		}
	}
}

func (m Message) matches(to, subject string) bool {
	if !strings.Contains(m.Subject, subject) {
		return false
	}
	for _, r := range m.To {
		if strings.EqualFold(r, to) {
			return true
		}
	}
	return false
}

var tokenRE = regexp.MustCompile(`atr_[a-z]+_[a-z2-7]{52}`)

// Token returns the first Atrium one-time token (atr_<kind>_...) in the message body.
func (m Message) Token() string { return tokenRE.FindString(m.Body) }

func (s *Sink) add(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: err.Error()}
		}
	}
	s.next++
	m.ID, m.At = s.next, time.Now()
	s.msgs = append(s.msgs, m)
	if len(s.msgs) > maxKept {
		s.msgs = s.msgs[len(s.msgs)-maxKept:]
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// Handler serves the messages: JSON at ?format=json, newest first, else a plain text page.
func (s *Sink) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msgs := s.Messages()
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(msgs)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var b bytes.Buffer
		b.WriteString("Mail received by the devstack SMTP sink (" + s.addr + "), newest first. JSON: ?format=json\n\n")
		for _, m := range msgs {
			b.WriteString("#" + itoa(m.ID) + "  " + m.At.Format(time.RFC3339) + "\nFrom: " + m.From + "\nTo: " +
				strings.Join(m.To, ", ") + "\nSubject: " + m.Subject + "\n\n" + m.Body + "\n\n----------------\n\n")
		}
		_, _ = w.Write(b.Bytes())
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

type session struct {
	sink *Sink
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{From: s.from, To: append([]string(nil), s.to...), Headers: map[string]string{}}
	if pm, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		for k := range pm.Header {
			m.Headers[k] = pm.Header.Get(k)
		}
		m.Subject = pm.Header.Get("Subject")
		body, _ := io.ReadAll(pm.Body)
		m.Body = strings.ReplaceAll(string(body), "\r\n", "\n")
	} else {
		m.Body = string(raw)
	}
	return s.sink.add(m)
}
