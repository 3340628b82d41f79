package loopback

import (
	"bytes"
	"testing"
)

func TestReadSOCKSRequest(t *testing.T) {
	tests := []struct {
		in     []byte
		target string
		isName bool
		ok     bool
	}{
		{[]byte{5, 1, 0, 3, 12, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 't', 'e', 's', 't', 1, 187}, "example.test:443", true, true},
		{[]byte{5, 1, 0, 1, 127, 0, 0, 2, 0x14, 0x67}, "127.0.0.2:5223", false, true},
		{append(append([]byte{5, 1, 0, 4}, make([]byte, 15)...), 1, 0, 80), "[::1]:80", false, true},
		{[]byte{5, 2, 0, 1, 127, 0, 0, 1, 0, 80}, "", false, false}, // BIND
		{[]byte{5, 1, 0, 3, 0, 0, 80}, "", false, false},            // empty name
		{[]byte{5, 1, 0, 9}, "", false, false},
		{[]byte{5, 1, 0, 3, 5, 'a'}, "", false, false},
	}
	for _, tt := range tests {
		req, err := ReadSOCKSRequest(bytes.NewReader(tt.in))
		if (err == nil) != tt.ok || (tt.ok && (req.Target() != tt.target || req.IsName != tt.isName)) {
			t.Errorf("%x: %+v, %v", tt.in, req, err)
		}
	}
}

func FuzzReadSOCKSRequest(f *testing.F) {
	f.Add([]byte{5, 1, 0, 3, 4, 'a', '.', 'b', 'c', 1, 187})
	f.Add([]byte{5, 1, 0, 1, 127, 0, 0, 2, 0x14, 0x67})
	f.Add([]byte{5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ReadSOCKSRequest(bytes.NewReader(b))
		if err == nil && req.Host == "" {
			t.Errorf("%x: accepted with no host", b)
		}
	})
}
