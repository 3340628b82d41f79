package xmppstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"hacx.dev/hacx"
)

const (
	starttlsFeatures = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
	proceed          = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
)

// serverBytes is a peer whose answers are fixed bytes; what the client
// writes is collected.
type serverBytes struct {
	*bytes.Reader
	wrote bytes.Buffer
}

func (s *serverBytes) Write(p []byte) (int, error) { return s.wrote.Write(p) }

func TestStartTLS_S1(t *testing.T) {
	tests := []struct {
		name   string
		server string
		is     error
		reason string
	}{
		{"proceed", prosodyHeader + starttlsFeatures + proceed, nil, ""},
		{"proceed with whitespace keepalives", prosodyHeader + "\n" + starttlsFeatures + " \n" + proceed, nil, ""},
		{"stripped", prosodyHeader + saslFeatures, ErrNoStartTLS, "the features offer no <starttls/>"},
		{"failure", prosodyHeader + starttlsFeatures + "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>", ErrStartTLSFailed, "refused to start TLS"},
		{"stream error", prosodyHeader + starttlsFeatures + "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", nil, "stream error instead of <proceed/>"},
		{"eof after starttls", prosodyHeader + starttlsFeatures, ErrClosed, "answer to <starttls/>"},
		{"close after starttls", prosodyHeader + starttlsFeatures + "</stream:stream>", ErrClosed, "closed the stream"},
		{"proceed in the wrong namespace", prosodyHeader + starttlsFeatures + "<proceed/>", ErrNotXMPP, "where <proceed/> was expected"},
		{"wrong domain before TLS", strings.Replace(prosodyHeader, "example.com", "evil.test", 1) + starttlsFeatures + proceed, ErrWrongDomain, "evil.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &serverBytes{Reader: bytes.NewReader([]byte(tt.server))}
			_, err := StartTLS(s, "", "example.com", hacx.Client)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("StartTLS: %v", err)
				}
				if !strings.HasSuffix(s.wrote.String(), StartTLSCommand) {
					t.Errorf("client wrote %q, want it to end with <starttls/>", s.wrote.String())
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.reason) || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("StartTLS error %v; want an *Error saying %q (%v)", err, tt.reason, tt.is)
			}
			if tt.is == ErrNoStartTLS && strings.Contains(s.wrote.String(), "starttls") {
				t.Error("<starttls/> sent although it was not offered")
			}
		})
	}
}

// TestStartTLS_ReadsNothingAfterProceed_S1: the bytes after <proceed/>
// stay unread for the TLS layer (CVE-2011-0411 class).
func TestStartTLS_ReadsNothingAfterProceed_S1(t *testing.T) {
	const injected = "<message><body>injected</body></message>"
	s := &serverBytes{Reader: bytes.NewReader([]byte(prosodyHeader + starttlsFeatures + proceed + injected))}
	if _, err := StartTLS(s, "", "example.com", hacx.Client); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(s.Reader)
	if string(rest) != injected {
		t.Errorf("left unread %q, want exactly %q", rest, injected)
	}
}

func TestFeatureNames(t *testing.T) {
	got := FeatureNames([]byte(starttlsFeatures))
	if len(got) != 1 || got[0] != "starttls(required)" {
		t.Errorf("FeatureNames(starttls) = %q", got)
	}
	got = FeatureNames([]byte(saslFeatures))
	if len(got) != 1 || !strings.HasPrefix(got[0], "mechanisms(") || !strings.Contains(got[0], "PLAIN") {
		t.Errorf("FeatureNames(sasl) = %q", got)
	}
	if FeatureNames([]byte("<x")) != nil {
		t.Error("FeatureNames of ill-formed input is not nil")
	}
}

// FuzzStartTLS: whatever the server sends, the plaintext exchange never
// panics, fails with an *Error (or a write error), and succeeds only
// having read exactly up to the end of a <proceed/> (S1).
func FuzzStartTLS(f *testing.F) {
	f.Add([]byte(prosodyHeader + starttlsFeatures + proceed + "\x16\x03\x01"))
	f.Add([]byte(prosodyHeader + saslFeatures))
	f.Add([]byte(prosodyHeader + starttlsFeatures + "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
	f.Add([]byte(ejabberdHeader + starttlsFeatures + "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'></proceed>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &serverBytes{Reader: bytes.NewReader(data)}
		_, err := StartTLS(s, "", "example.com", hacx.Client)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			return
		}
		consumed := data[:len(data)-s.Len()]
		if !bytes.HasSuffix(consumed, []byte(">")) || !bytes.Contains(consumed, []byte("proceed")) || len(consumed) > MaxOpenBytes+MaxHeaderBytes {
			t.Fatalf("accepted after consuming %q", consumed)
		}
	})
}
