package demo_test

import (
	"context"
	"fmt"

	"hacx.dev/hacx/demo"
	"hacx.dev/hacx/hacxtest"
)

// Example plays one scenario on a fresh loopback bed and prints how it
// ended.
func Example() {
	bed, err := hacxtest.NewBed(context.Background(), hacxtest.BedConfig{})
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
