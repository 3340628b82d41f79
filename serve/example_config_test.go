package serve

import "testing"

func TestExampleConfigLoads_P5(t *testing.T) {
	cfg, err := LoadConfig("../examples/hacx.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewHandler(cfg); err != nil {
		t.Fatal(err)
	}
}
