package hacx_test

import "encoding/base64"

func hacxB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
