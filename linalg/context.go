package linalg

import "context"

// backendKey is the context key of a backend chosen by the caller.
type backendKey struct{}

// NewContext returns a copy of ctx that carries be: work started under it
// (training, evaluation) uses be instead of the process-wide Default. It is
// how a runner gives each of its concurrent jobs its own share of the
// threads.
func NewContext(ctx context.Context, be Backend) context.Context {
	return context.WithValue(ctx, backendKey{}, be)
}

// FromContext returns the backend ctx carries (NewContext), else Default.
func FromContext(ctx context.Context) (Backend, error) {
	if be, ok := ctx.Value(backendKey{}).(Backend); ok && be != nil {
		return be, nil
	}
	return Default()
}

// Share returns a backend of the same kind as be with threads threads per
// product (at least one): the backend of one of several jobs that split the
// machine between them.
func Share(be Backend, threads int) (Backend, error) {
	return OpenThreads(be.Name(), max(threads, 1))
}
