package linalg

import "errors"

// OpenBLAS returns the OpenBLAS backend using the given number of threads
// (0: all cores). TEMPORARY placeholder until the purego binding lands.
func OpenBLAS(threads int) (Backend, error) {
	return nil, errors.New("linalg: OpenBLAS backend not built yet")
}
