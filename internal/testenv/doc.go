// Package testenv decides what a test does when a program it drives is
// missing: skip with the reason, or fail under CI.
package testenv
