//go:build !unix

package main

// freeFraction is not measured on this platform: always 1 (all free).
func freeFraction(string) (float64, error) { return 1, nil }
