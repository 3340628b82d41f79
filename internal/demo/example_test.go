package demo_test

import (
	"context"
	"fmt"

	"hacx.dev/hacx/internal/demo"
	"hacx.dev/hacx/internal/testbed"
)

// Example plays one scenario on a fresh loopback bed and prints how it
// ended.
func Example() {
	bed, err := testbed.NewBed(context.Background(), testbed.BedConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bed.Close()
	sc, _ := demo.Find("rogue-ca-pinned")
	r := (&demo.Runner{Bed: bed}).Run(context.Background(), sc)
	fmt.Println(r.Winner, r.AsExpected)
	for _, a := range r.Attempts {
		fmt.Println(a.Phase, a.OK)
	}
	// Output:
	// hacx record 3 (tls, pin) true
	// verify false
	// verify false
	// done true
}
